# Drop-in for CPython's asynchat (removed in 3.12): the same public names, from uasynchat.
# asynchat has no module-level private names that programs use; its star-import also gave asyncore.
from uasynchat import *  # noqa: F403
import uasyncore as asyncore  # noqa: F401
