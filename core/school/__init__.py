"""The school's data (dữ liệu trường): import of schools, staff, classes, students; rules on personal IDs and the curriculum."""
