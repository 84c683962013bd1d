from imu_valgus.cli import main

raise SystemExit(main())
