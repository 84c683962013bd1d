/*
 * ivp_codec.h - imu-valgus firmware protocol v1, portable C99 reference codec.
 *
 * Specification: firmware_protocol/PROTOCOL.md.  Test vectors shared with the
 * Python codec (imu_valgus/protocol.py): firmware_protocol/vectors/.
 *
 * Properties:
 *   - C99, no dynamic allocation, no floating point in encode/decode (only the
 *     optional scale helpers at the end use float);
 *   - every multi-byte field is assembled byte by byte, little-endian, so the
 *     code is independent of host endianness, alignment and struct padding;
 *   - decoders check a PDU in the order given in PROTOCOL.md ("Decoder checks")
 *     and return the first failure, so both codecs report the same error;
 *   - encoders validate the struct with the same rules and never write past
 *     the capacity they are given.
 */
#ifndef IVP_CODEC_H
#define IVP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ constants */

#define IVP_PROTOCOL_VERSION 1u

#define IVP_SERVICE_UUID "4e1f0001-8d6b-4f3a-9c2e-6a7b5d3c1f00"
#define IVP_DATA_CHAR_UUID "4e1f0002-8d6b-4f3a-9c2e-6a7b5d3c1f00"
#define IVP_COMMAND_CHAR_UUID "4e1f0003-8d6b-4f3a-9c2e-6a7b5d3c1f00"
#define IVP_STATUS_CHAR_UUID "4e1f0004-8d6b-4f3a-9c2e-6a7b5d3c1f00"

#define IVP_HEADER_SIZE 12u
#define IVP_MAX_SAMPLES 32u
#define IVP_SAMPLE_SIZE 12u     /* bytes per sample without magnetometer */
#define IVP_SAMPLE_SIZE_MAG 18u /* bytes per sample with magnetometer */
#define IVP_MAX_DATA_SIZE (IVP_HEADER_SIZE + IVP_MAX_SAMPLES * IVP_SAMPLE_SIZE_MAG) /* 588 */
#define IVP_ATT_NOTIFY_OVERHEAD 3u /* ATT opcode + handle */
#define IVP_STATUS_SIZE 16u
#define IVP_MAX_COMMAND_SIZE 7u /* LED */

/* data packet flags (byte 1); bits 2-7 reserved: write 0, ignore on decode */
#define IVP_DATA_FLAG_MAG 0x01u
#define IVP_DATA_FLAG_SATURATED 0x02u

/* range codes (ranges byte: bits 0-3 accelerometer, bits 4-7 gyroscope) */
#define IVP_ACC_RANGE_CODES 4u /* 0:±2 g, 1:±4 g, 2:±8 g, 3:±16 g */
#define IVP_GYR_RANGE_CODES 5u /* 0:±125 .. 4:±2000 °/s */

#define IVP_RATE_HZ_MIN 1u
#define IVP_RATE_HZ_MAX 1600u
#define IVP_BUZZ_DURATION_MS_MAX 5000u
#define IVP_BUZZ_INTENSITY_MAX 100u
#define IVP_BATTERY_PCT_UNKNOWN 255u
#define IVP_OPTION_MAG 0x01u /* CONFIGURE / status options byte */

/* status flags (u16); bits 8-15 reserved */
#define IVP_STATUS_STREAMING 0x0001u
#define IVP_STATUS_CHARGING 0x0002u
#define IVP_STATUS_LOW_BATTERY 0x0004u
#define IVP_STATUS_IMU_FAULT 0x0008u
#define IVP_STATUS_MAG_FAULT 0x0010u
#define IVP_STATUS_FIFO_OVERFLOW 0x0020u
#define IVP_STATUS_MOTOR_FAULT 0x0040u
#define IVP_STATUS_COMMAND_REJECTED 0x0080u

/* ------------------------------------------------------------------ results */

/* Result of every codec call.  The names returned by ivp_status_name() for
 * IVP_ERR_TOO_SHORT .. IVP_ERR_VALUE are the error names of malformed.json and
 * the `kind` of the Python exceptions. */
typedef enum {
    IVP_OK = 0,
    IVP_ERR_TOO_SHORT, /* "too_short": PDU ends before its fixed part */
    IVP_ERR_VERSION,   /* "version":   version byte is not 1 */
    IVP_ERR_LENGTH,    /* "length":    length differs from the announced one */
    IVP_ERR_RANGE,     /* "range":     undefined accelerometer/gyroscope range code */
    IVP_ERR_OPCODE,    /* "opcode":    unknown command opcode */
    IVP_ERR_VALUE,     /* "value":     a field is outside its allowed values */
    IVP_ERR_BUFFER,    /* "buffer":    (encode) output capacity too small */
    IVP_ERR_NULL       /* "null":      a required pointer is NULL */
} ivp_status;

/* Stable lower-case name of a result ("ok", "too_short", ...); "unknown" otherwise. */
const char *ivp_status_name(ivp_status status);

/* ------------------------------------------------------------------ data packets */

typedef struct {
    int16_t acc[3]; /* raw counts, sensor frame */
    int16_t gyr[3];
    int16_t mag[3]; /* valid only when the packet has_mag */
} ivp_sample;

typedef struct {
    uint16_t seq;           /* +1 per notification, wraps */
    uint32_t t0_us;         /* sensor time of sample 0 (µs, wraps at 2^32) */
    uint16_t period_us;     /* sample interval (µs), 1..65535 */
    uint8_t n_samples;      /* 1..IVP_MAX_SAMPLES */
    uint8_t acc_range_code; /* 0..3 */
    uint8_t gyr_range_code; /* 0..4 */
    bool has_mag;           /* flags bit 0 */
    bool saturated;         /* flags bit 1 */
} ivp_data_header;

typedef struct {
    ivp_data_header hdr;
    ivp_sample samples[IVP_MAX_SAMPLES];
} ivp_data_packet;

/* Size in bytes of a data packet with n samples (0 if n is not 1..32). */
size_t ivp_data_packet_size(uint8_t n_samples, bool has_mag);

/* Most samples that fit one notification at the negotiated ATT MTU, capped at
 * 32; 0 if not even one sample fits (MTU < 27, or < 33 with magnetometer). */
uint8_t ivp_max_samples_for_mtu(uint16_t att_mtu, bool has_mag);

/* Validate a complete data packet (buf, len) and decode only its header.
 * Firmware-side consumers can then read samples with ivp_decode_sample(). */
ivp_status ivp_decode_data_header(const uint8_t *buf, size_t len, ivp_data_header *out);

/* Decode sample i (0-based, < hdr->n_samples) of a packet already validated by
 * ivp_decode_data_header(). */
void ivp_decode_sample(const uint8_t *buf, const ivp_data_header *hdr, uint8_t i,
                       ivp_sample *out);

/* Validate and decode a whole data packet into *out. */
ivp_status ivp_decode_data(const uint8_t *buf, size_t len, ivp_data_packet *out);

/* Encode a 12-byte header (buf must hold IVP_HEADER_SIZE bytes). */
ivp_status ivp_encode_data_header(const ivp_data_header *hdr, uint8_t *buf, size_t cap);

/* Encode sample i at its place after the header (buf as for the whole packet). */
ivp_status ivp_encode_sample(const ivp_data_header *hdr, uint8_t i, const ivp_sample *s,
                             uint8_t *buf, size_t cap);

/* Encode a whole data packet; on success *out_len is the byte count. */
ivp_status ivp_encode_data(const ivp_data_packet *pkt, uint8_t *buf, size_t cap,
                           size_t *out_len);

/* ------------------------------------------------------------------ commands */

typedef enum {
    IVP_OP_START = 0x01,
    IVP_OP_STOP = 0x02,
    IVP_OP_CONFIGURE = 0x03,
    IVP_OP_BUZZ = 0x10,
    IVP_OP_LED = 0x11,
    IVP_OP_IDENTIFY = 0x12
} ivp_opcode;

typedef enum {
    IVP_BUZZ_CONTINUOUS = 0,
    IVP_BUZZ_DOUBLE = 1,
    IVP_BUZZ_TRIPLE = 2,
    IVP_BUZZ_RAMP_UP = 3,
    IVP_BUZZ_PULSE = 4
} ivp_buzz_pattern;

typedef struct {
    uint16_t rate_hz;       /* 1..1600 */
    uint8_t acc_range_code; /* 0..3 */
    uint8_t gyr_range_code; /* 0..4 */
    bool mag_enabled;       /* options bit 0 */
} ivp_configure;

typedef struct {
    uint16_t duration_ms; /* 1..5000 */
    uint8_t intensity_pct; /* 0..100 */
    uint8_t pattern;       /* ivp_buzz_pattern */
} ivp_buzz;

typedef struct {
    uint8_t r, g, b;
    uint16_t duration_ms; /* 0 = until changed */
} ivp_led;

typedef struct {
    uint16_t duration_ms;
} ivp_identify;

typedef struct {
    uint8_t opcode; /* ivp_opcode; selects the member of u (none for START/STOP) */
    union {
        ivp_configure configure;
        ivp_buzz buzz;
        ivp_led led;
        ivp_identify identify;
    } u;
} ivp_command;

/* Exact length of a command with this opcode, or 0 if the opcode is unknown. */
size_t ivp_command_size(uint8_t opcode);

ivp_status ivp_decode_command(const uint8_t *buf, size_t len, ivp_command *out);
ivp_status ivp_encode_command(const ivp_command *cmd, uint8_t *buf, size_t cap,
                              size_t *out_len);

/* ------------------------------------------------------------------ status */

typedef struct {
    uint8_t battery_pct;      /* 0..100, 255 unknown */
    uint16_t battery_mv;
    uint16_t flags;           /* IVP_STATUS_*; reserved bits kept as received */
    uint16_t rate_hz;         /* 1..1600 */
    uint8_t ranges;           /* packed range codes, as on the wire */
    uint8_t options;          /* bit 0 magnetometer; others kept as received */
    uint32_t dropped_samples;
    uint8_t fw_major;
    uint8_t fw_minor;
} ivp_sensor_status;

/* Decode a status of at least 16 bytes; bytes after the 16th are ignored. */
ivp_status ivp_decode_status(const uint8_t *buf, size_t len, ivp_sensor_status *out);
/* Encode the 16-byte v1 status (cap >= IVP_STATUS_SIZE). */
ivp_status ivp_encode_status(const ivp_sensor_status *st, uint8_t *buf, size_t cap);

/* ------------------------------------------------------------------ scales (float) */

/* Full-scale ranges for a code, 0 if the code is invalid. */
uint16_t ivp_acc_range_g(uint8_t code);
uint16_t ivp_gyr_range_dps(uint8_t code);
/* SI value of one count: m/s² per LSB, rad/s per LSB (0 if invalid), µT per LSB. */
float ivp_acc_lsb_m_s2(uint8_t code);
float ivp_gyr_lsb_rad_s(uint8_t code);
#define IVP_MAG_UT_PER_LSB 0.1f

#ifdef __cplusplus
}
#endif

#endif /* IVP_CODEC_H */
