"""Detection: signals from scheduled checks (and, later, the pipeline's files, an intake endpoint
and the terminal) turned into incidents — one fingerprint, one open incident."""
