// imu-valgus reference sensor: Seeed XIAO nRF52840 Sense (LSM6DS3TR-C on board)
// + a coin vibration motor.  Speaks firmware protocol v1 (../../PROTOCOL.md) with the
// C reference codec ivp_codec.[ch] (copied next to this file by ../prepare.sh).
//
// NOT BUILT IN CI.  Only the codec is compiled and tested on the host
// (tests/test_c_codec.py).  Board package: "Seeed nRF52 mbed-enabled Boards";
// libraries: ArduinoBLE, "Seeed Arduino LSM6DS3".  See ../README.md.

#include <ArduinoBLE.h>
#include <LSM6DS3.h>
#include <Wire.h>

extern "C" {
#include "ivp_codec.h"
}

// ---------------------------------------------------------------- hardware
static const int MOTOR_PIN = D0;       // PWM → 1 kΩ → MOSFET gate (see README)
static LSM6DS3 imu(I2C_MODE, 0x6A);

// ---------------------------------------------------------------- GATT
BLEService service(IVP_SERVICE_UUID);
BLECharacteristic dataChar(IVP_DATA_CHAR_UUID, BLENotify, IVP_MAX_DATA_SIZE);
BLECharacteristic commandChar(IVP_COMMAND_CHAR_UUID, BLEWrite, IVP_MAX_COMMAND_SIZE);
BLECharacteristic statusChar(IVP_STATUS_CHAR_UUID, BLERead | BLENotify, IVP_STATUS_SIZE);

// ---------------------------------------------------------------- state
static ivp_configure config = {200, 3 /* ±16 g */, 4 /* ±2000 dps */, false};
static bool streaming = false;
static uint16_t seq = 0;
static uint32_t nextSampleUs = 0;
static uint32_t droppedSamples = 0;
static uint16_t statusFlags = 0;
static ivp_data_packet pkt;
static uint8_t samplesPerPacket = 4;

// motor pattern: a list of (on ms, off ms) steps at a PWM level
static uint32_t motorStepEnd = 0;
static uint16_t motorSteps[8][2];   // (on ms, off ms)
static uint8_t motorStep = 0, motorCount = 0, motorLevel = 0;
static bool motorOn = false;

static int16_t clamp16(int32_t v, bool *sat) {
  if (v > 32767) { *sat = true; return 32767; }
  if (v < -32768) { *sat = true; return -32768; }
  return (int16_t)v;
}

static void notifyStatus() {
  ivp_sensor_status st;
  memset(&st, 0, sizeof st);
  st.battery_pct = IVP_BATTERY_PCT_UNKNOWN;   // see README: VBAT divider on P0_31
  st.flags = statusFlags | (streaming ? IVP_STATUS_STREAMING : 0);
  st.rate_hz = config.rate_hz;
  st.ranges = (uint8_t)(config.acc_range_code | (config.gyr_range_code << 4));
  st.dropped_samples = droppedSamples;
  st.fw_major = 1;
  uint8_t buf[IVP_STATUS_SIZE];
  if (ivp_encode_status(&st, buf, sizeof buf) == IVP_OK) statusChar.writeValue(buf, IVP_STATUS_SIZE);
}

static void startMotor(uint16_t durationMs, uint8_t intensityPct, uint8_t pattern) {
  uint16_t d = durationMs;
  motorCount = 0;
  switch (pattern) {
    case IVP_BUZZ_DOUBLE:  // two pulses in the duration
      motorSteps[0][0] = d * 2 / 5; motorSteps[0][1] = d / 5; 
      motorSteps[1][0] = d * 2 / 5; motorSteps[1][1] = 0; motorCount = 2; break;
    case IVP_BUZZ_TRIPLE:
      for (int i = 0; i < 3; i++) { motorSteps[i][0] = d / 5; motorSteps[i][1] = d / 10; }
      motorCount = 3; break;
    case IVP_BUZZ_PULSE:
      for (int i = 0; i < 5; i++) { motorSteps[i][0] = d / 10; motorSteps[i][1] = d / 10; }
      motorCount = 5; break;
    default:               // CONTINUOUS, RAMP_UP (ramp: left to the PWM level below)
      motorSteps[0][0] = d; motorSteps[0][1] = 0; motorCount = 1; break;
  }
  motorLevel = (uint8_t)((uint16_t)intensityPct * 255 / 100);
  motorStep = 0; motorOn = true;
  analogWrite(MOTOR_PIN, motorLevel);
  motorStepEnd = millis() + motorSteps[0][0];
}

static void serviceMotor() {
  if (motorCount == 0 || (int32_t)(millis() - motorStepEnd) < 0) return;
  if (motorOn) {
    analogWrite(MOTOR_PIN, 0); motorOn = false;
    motorStepEnd = millis() + motorSteps[motorStep][1];
  } else if (++motorStep < motorCount) {
    analogWrite(MOTOR_PIN, motorLevel); motorOn = true;
    motorStepEnd = millis() + motorSteps[motorStep][0];
  } else {
    motorCount = 0;
  }
}

static void onCommand(BLEDevice, BLECharacteristic c) {
  ivp_command cmd;
  if (ivp_decode_command(c.value(), c.valueLength(), &cmd) != IVP_OK) {
    statusFlags |= IVP_STATUS_COMMAND_REJECTED;   // PROTOCOL.md §4: refuse visibly
    notifyStatus();
    return;
  }
  statusFlags &= ~IVP_STATUS_COMMAND_REJECTED;
  switch (cmd.opcode) {
    case IVP_OP_START:
      if (!streaming) { streaming = true; pkt.hdr.n_samples = 0; nextSampleUs = micros(); }
      break;
    case IVP_OP_STOP: streaming = false; break;
    case IVP_OP_CONFIGURE:
      if (cmd.u.configure.rate_hz > 400 || cmd.u.configure.mag_enabled) {  // no magnetometer
        statusFlags |= IVP_STATUS_COMMAND_REJECTED;
      } else {
        config = cmd.u.configure;
      }
      break;
    case IVP_OP_BUZZ:
      startMotor(cmd.u.buzz.duration_ms, cmd.u.buzz.intensity_pct, cmd.u.buzz.pattern); break;
    case IVP_OP_LED: digitalWrite(LED_BLUE, (cmd.u.led.b > 0) ? LOW : HIGH); break;  // active low
    case IVP_OP_IDENTIFY:
      digitalWrite(LED_GREEN, LOW); startMotor(150, 60, IVP_BUZZ_CONTINUOUS); break;
  }
  notifyStatus();
}

static void onConnect(BLEDevice) { samplesPerPacket = 4; }
static void onDisconnect(BLEDevice) { BLE.advertise(); }   // keep sampling; host sees gaps

void setup() {
  pinMode(MOTOR_PIN, OUTPUT); analogWrite(MOTOR_PIN, 0);
  pinMode(LED_BLUE, OUTPUT); pinMode(LED_GREEN, OUTPUT);
  digitalWrite(LED_BLUE, HIGH); digitalWrite(LED_GREEN, HIGH);
  imu.settings.accelRange = 16; imu.settings.accelSampleRate = 416;
  imu.settings.gyroRange = 2000; imu.settings.gyroSampleRate = 416;
  if (imu.begin() != 0) statusFlags |= IVP_STATUS_IMU_FAULT;
  if (!BLE.begin()) { while (1) { digitalWrite(LED_RED, !digitalRead(LED_RED)); delay(100); } }
  char name[16];
  snprintf(name, sizeof name, "IV-%04X", (unsigned)(NRF_FICR->DEVICEADDR[0] & 0xFFFF));
  BLE.setLocalName(name);
  BLE.setAdvertisedService(service);
  service.addCharacteristic(dataChar);
  service.addCharacteristic(commandChar);
  service.addCharacteristic(statusChar);
  BLE.addService(service);
  commandChar.setEventHandler(BLEWritten, onCommand);
  BLE.setEventHandler(BLEConnected, onConnect);
  BLE.setEventHandler(BLEDisconnected, onDisconnect);
  BLE.setConnectionInterval(6, 12);   // 7.5-15 ms, in 1.25 ms units (the host decides)
  notifyStatus();
  BLE.advertise();
}

void loop() {
  BLE.poll();
  serviceMotor();
  if (!streaming) return;
  uint32_t now = micros();
  if ((int32_t)(now - nextSampleUs) < 0) return;
  // Polling at the configured rate keeps the sketch short; a product reads the
  // LSM6DS3 FIFO instead (exact sample instants, no misses while BLE is busy).
  uint32_t periodUs = 1000000u / config.rate_hz;
  uint32_t t = nextSampleUs;
  nextSampleUs += periodUs;
  if ((int32_t)(now - nextSampleUs) > (int32_t)periodUs) {   // fell behind: skip, count
    droppedSamples += (now - nextSampleUs) / periodUs;
    nextSampleUs = now + periodUs;
  }
  ivp_data_header *h = &pkt.hdr;
  uint8_t i = h->n_samples;
  if (i == 0) {
    h->seq = seq; h->t0_us = t; h->period_us = (uint16_t)periodUs;
    h->acc_range_code = config.acc_range_code; h->gyr_range_code = config.gyr_range_code;
    h->has_mag = false; h->saturated = false;
  }
  bool sat = false;
  ivp_sample *s = &pkt.samples[i];
  // LSM6DS3 ±16 g: 0.488 mg/LSB = 16 g / 32768, as the protocol's scale: unchanged.
  s->acc[0] = imu.readRawAccelX(); s->acc[1] = imu.readRawAccelY(); s->acc[2] = imu.readRawAccelZ();
  // ±2000 °/s: 70 m°/s/LSB, the protocol's is 2000/32768 = 61.04 m°/s: rescale ×1.1469.
  s->gyr[0] = clamp16((int32_t)imu.readRawGyroX() * 1147 / 1000, &sat);
  s->gyr[1] = clamp16((int32_t)imu.readRawGyroY() * 1147 / 1000, &sat);
  s->gyr[2] = clamp16((int32_t)imu.readRawGyroZ() * 1147 / 1000, &sat);
  h->saturated |= sat;
  h->n_samples = i + 1;
  if (h->n_samples < samplesPerPacket) return;
  uint8_t buf[IVP_MAX_DATA_SIZE];
  size_t n = 0;
  if (ivp_encode_data(&pkt, buf, sizeof buf, &n) == IVP_OK && BLE.connected()) {
    dataChar.writeValue(buf, n);       // a notification to the subscribed host
  }
  seq++;                               // counts even when nobody listens: gaps show as loss
  h->n_samples = 0;
}
