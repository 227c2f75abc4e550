"""The contracts the connectors of this repository share, in one place both sides import.

`ticket_batch`: the Ticketing InterApp messages (shared/contracts/interapp.md): the Ticket rules,
reading a TicketBatchMessage and writing its TicketBatchResponse or ErrorResponse (Ticketing BE's
side). `ticket_answers`: writing a TicketBatchMessage and reading its answers (Ticketing WM's
side). A connector imports these; connectors never import each other (setup.cfg's import
contracts check it).
"""
