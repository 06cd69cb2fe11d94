"""Rules of the transcript: TT27/2020 (primary), TT22/2021 (secondary), the issued record's lifecycle."""
