"""The transcript (học bạ số): gradebook, signing workflow, issuance, verification, transfer, figures, PDF."""
