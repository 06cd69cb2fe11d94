"""Rules of the timetable: the school calendar, slots and conflicts."""
