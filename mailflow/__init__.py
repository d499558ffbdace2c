"""mailflow: an email-driven ticket processor.

The tree is the data flow: ``sources`` (mailbox) → ``mail`` (bytes → InboundMail) → ``pipeline``
(prepare, route, one transaction per group) → ``process`` (one module per step of the support
process) → ``delivery`` (templates, MIME, the outbox, sending) → SMTP; ``store`` below them all,
``daemon`` and ``cli`` at the edge. The README's "How it works" maps every step to its module.
"""

__version__ = "0.1.0"
