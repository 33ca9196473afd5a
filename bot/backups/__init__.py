"""Backups of the pipeline's configuration: snapshots before every change the bot makes, what a
restore would change (secrets masked), a restore that writes exactly the backup, and its undo."""
