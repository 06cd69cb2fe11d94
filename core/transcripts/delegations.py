"""The register of written delegations to sign for the principal, kept under its old name: it
lives in :mod:`core.signatures.delegations` (below the logbook, whose weekly close a
vice-principal may also sign under a delegation)."""
from core.signatures.delegations import (  # noqa: F401 - re-exported
    delegation_register,
    delegations_of,
    register_delegation,
    revoke_delegation,
    roles_at,
    signing_authority,
    vice_principals,
)
