"""The demo (dữ liệu mẫu): synthetic departments, gradebooks, apps' submissions, the notebooks' data. Nothing in the domain imports it."""
