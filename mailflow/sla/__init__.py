"""Service levels: the business calendar, the response/resolution/update clocks of a ticket,
the timers that fire warnings and breaches, and the sweep that fires them."""
