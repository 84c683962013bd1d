#!/bin/sh
# Copy the C reference codec next to the sketch (Arduino compiles only the sketch folder).
set -e
here=$(dirname "$0")
cp "$here/../c/ivp_codec.h" "$here/../c/ivp_codec.c" "$here/imu_valgus_sensor/"
echo "codec copied into $here/imu_valgus_sensor/"
