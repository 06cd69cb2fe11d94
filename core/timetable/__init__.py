"""The timetable (thời khóa biểu): versions from a Monday, weekend change requests."""
