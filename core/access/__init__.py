"""Access (truy cập): who may see and do what, sign-in, the audit trail, admin actions."""
