"""The kernel: errors, the domain's vocabulary (enums), the clock, canonical documents, fonts. Imports nothing of ours."""
