"""Digital signatures (chữ ký số): the demo PKI, one signer interface, CMS signing and
verification reported in the ETSI vocabulary."""
from core.signatures.cms import FAILED, INDETERMINATE, PASSED, TrustStore, Verification, verify_detached
from core.signatures.pki import Credential, DemoPKI
from core.signatures.signer import CmsSigner, KeyAccessError, KeyStore, Signer, SoftwareSigner

__all__ = ["CmsSigner", "Credential", "DemoPKI", "FAILED", "INDETERMINATE", "KeyAccessError", "KeyStore",
           "PASSED", "Signer", "SoftwareSigner", "TrustStore", "Verification", "verify_detached"]
