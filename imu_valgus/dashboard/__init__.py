"""Live dashboard for the therapist (pyqtgraph on PySide6).

GUI-free data sources live in :mod:`imu_valgus.dashboard.sources`; the Qt window in
:mod:`imu_valgus.dashboard.window` (imported only when a window is wanted, so the
rest of the package never needs Qt).
"""
