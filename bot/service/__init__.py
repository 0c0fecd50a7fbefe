"""The service: one turn kernel for every role, over the unit of work of `bot/state`.

The public face is small: `Service` (handle an update, ask again, send a planned message),
`Incoming`/`Outgoing` (what goes in and out) and `Role`. See kernel.py for the loop and
client.py, and the other roles' modules, for what each role's turn does.
"""

from bot.service.kernel import Service
from bot.service.types import Incoming, Outgoing, Role, TurnResult

__all__ = ["Incoming", "Outgoing", "Role", "Service", "TurnResult"]
