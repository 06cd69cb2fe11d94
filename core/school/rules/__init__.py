"""Rules of the school's data: the personal ID, the 2018 curriculum."""
