"""mailflow: an email-driven ticket processor.

Data flow, one module per arrow: ``sources`` (mailbox) → ``parsing`` → ``routing`` → ``workflow``
(one transaction: message, ticket, events, outbox rows) → ``outbox`` → ``transports`` (SMTP).
"""

__version__ = "0.1.0"
