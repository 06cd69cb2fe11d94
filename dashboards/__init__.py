"""The console (bảng điều khiển): Panel pages for supervisors and school monitors, calling core only."""
