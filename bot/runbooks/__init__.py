"""Runbooks as data: the playbook's scenarios, common procedure and checklists, read from TOML.

`runbooks/` holds one `<scenario>.toml` per playbook scenario, `common.toml` (the common procedure,
spliced into every scenario) and `checklists.toml`. `load_library` reads them all, checks them
against each other and against the registered actions, and either returns a `Library` or raises
`RunbookError` listing every problem at once, each as "file.toml: key.path: message" so the
playbook's author can fix a file without reading Python. `RunbookShelf` holds the library in use
and swaps it on reload only when the new files are sound.

`model.py` is the runbook model, `loader.py` reads and checks the files, `shelf.py` holds the
library in use; their public names are re-exported here.
"""

from bot.runbooks.model import (
    PHASES,
    SEVERITIES,
    Phase,
    Severity,
    ChecklistItem,
    Library,
    Runbook,
    RunbookError,
    Step,
    Text,
)
from bot.runbooks.shelf import RunbookShelf, load_library

__all__ = [
    "PHASES", "SEVERITIES", "Phase", "Severity", "ChecklistItem", "Library", "Runbook",
    "RunbookError", "RunbookShelf", "Step", "Text", "load_library",
]
