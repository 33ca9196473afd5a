"""`sunflow-ops` exit codes (BSD sysexits where one fits), for every command."""

EX_OK = 0
EX_REFUSED = 1  # health: degraded (2 is down); incident commands: refused, nothing changed
EX_USAGE = 64
EX_SOFTWARE = 70  # an unexpected failure, logged with secrets masked
EX_IOERR = 74  # the store or DATA_DIR cannot be written
EX_TEMPFAIL = 75  # the store is busy: the running bot holds it
EX_NOPERM = 77  # not an operator
EX_CONFIG = 78
