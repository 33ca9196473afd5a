"""Named step actions: each module declares its own (`ACTIONS`); `catalog.all_actions()` puts
them together, and `catalog.run_action` runs one."""
