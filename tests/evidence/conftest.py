"""Evidence tests: each attack of the threat model (the teacher, the principal, the database
administrator, the holder of any trusted certificate, the anonymous internet user, time, a
crash) done as the attacker would, each asserting detection or refusal. Fixtures live in each
test module (or a ``_<topic>.py`` helper module beside it)."""
