/*
 * test_ivp_codec.c - checks the C reference codec against the shared vectors.
 *
 * The vectors come from firmware_protocol/vectors/ (JSON), turned into C tables in
 * a generated header "ivp_vectors.h" (tests/test_c_codec.py writes it; run
 * `python tests/test_c_codec.py OUT_DIR` to write it by hand).  The header defines
 *
 *   DATA_VECTORS, COMMAND_VECTORS, STATUS_VECTORS   valid PDUs with decoded fields;
 *   MALFORMED_VECTORS                               malformed PDUs with the error name;
 *   CROSS_VECTORS   mutated/random PDUs with the Python codec's verdict ("ok" or an
 *                   error name) and, when "ok", the Python re-encoding;
 *
 * each with an N_..._VECTORS count.  For every valid vector the test decodes and
 * compares every field, then encodes (both the decoded and the expected struct)
 * and compares the bytes.  For every malformed vector it checks the error name.
 *
 * Output on success: "ivp_codec: <total> vectors checked (...), 0 failures";
 * exit status 0 only if nothing failed and at least one vector was checked.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ivp_codec.h"

typedef enum { TV_DATA, TV_COMMAND, TV_STATUS } tv_kind;

typedef struct {
    const char *name;
    const uint8_t *bytes;
    size_t len;
    const uint8_t *reenc; /* what an encoder writes for these fields */
    size_t reenc_len;
    ivp_data_header hdr;
    const int16_t (*samples)[9]; /* acc xyz, gyr xyz, mag xyz (0 without mag) */
    uint32_t last_t_us;
    double si[9]; /* first sample: acc m/s², gyr rad/s, mag µT */
} tv_data;

typedef struct {
    const char *name;
    const uint8_t *bytes;
    size_t len;
    ivp_command cmd;
} tv_command;

typedef struct {
    const char *name;
    const uint8_t *bytes;
    size_t len;
    const uint8_t *reenc;
    size_t reenc_len;
    ivp_sensor_status status;
} tv_status;

typedef struct {
    const char *name;
    tv_kind kind;
    const uint8_t *bytes;
    size_t len;
    const char *error; /* "ok" or an ivp_status_name() */
    const uint8_t *reenc;
    size_t reenc_len;
} tv_error;

#include "ivp_vectors.h"

static unsigned failures;

#define CHECK(cond, name, what)                                                           \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            ++failures;                                                                   \
            printf("FAIL %s: %s (%s:%d)\n", (name), (what), __FILE__, __LINE__);          \
        }                                                                                 \
    } while (0)

static int bytes_equal(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    return na == nb && (na == 0u || memcmp(a, b, na) == 0);
}

static int close_to(double got, double want)
{
    /* Scale helpers are float: allow float rounding (relative 1e-6). */
    return fabs(got - want) <= 1e-6 * fabs(want) + 1e-9;
}

/* ---------------------------------------------------------------- data */

static void check_data(const tv_data *v)
{
    ivp_data_packet got;
    ivp_data_packet want;
    uint8_t out[IVP_MAX_DATA_SIZE];
    size_t out_len = 0u;
    uint8_t i;
    unsigned k;
    ivp_status st = ivp_decode_data(v->bytes, v->len, &got);

    CHECK(st == IVP_OK, v->name, ivp_status_name(st));
    if (st != IVP_OK) {
        return;
    }
    CHECK(got.hdr.seq == v->hdr.seq, v->name, "seq");
    CHECK(got.hdr.t0_us == v->hdr.t0_us, v->name, "t0_us");
    CHECK(got.hdr.period_us == v->hdr.period_us, v->name, "period_us");
    CHECK(got.hdr.n_samples == v->hdr.n_samples, v->name, "n_samples");
    CHECK(got.hdr.acc_range_code == v->hdr.acc_range_code, v->name, "acc_range_code");
    CHECK(got.hdr.gyr_range_code == v->hdr.gyr_range_code, v->name, "gyr_range_code");
    CHECK(got.hdr.has_mag == v->hdr.has_mag, v->name, "has_mag");
    CHECK(got.hdr.saturated == v->hdr.saturated, v->name, "saturated");
    CHECK((uint32_t)(got.hdr.t0_us + (uint32_t)(got.hdr.n_samples - 1u) * got.hdr.period_us) ==
              v->last_t_us,
          v->name, "last sample time (mod 2^32)");

    want.hdr = v->hdr;
    for (i = 0u; i < v->hdr.n_samples; ++i) {
        for (k = 0u; k < 3u; ++k) {
            want.samples[i].acc[k] = v->samples[i][k];
            want.samples[i].gyr[k] = v->samples[i][3u + k];
            want.samples[i].mag[k] = v->samples[i][6u + k];
            CHECK(got.samples[i].acc[k] == want.samples[i].acc[k], v->name, "acc sample");
            CHECK(got.samples[i].gyr[k] == want.samples[i].gyr[k], v->name, "gyr sample");
            CHECK(got.samples[i].mag[k] == want.samples[i].mag[k], v->name, "mag sample");
        }
    }
    for (k = 0u; k < 3u; ++k) {
        CHECK(close_to(got.samples[0].acc[k] * (double)ivp_acc_lsb_m_s2(got.hdr.acc_range_code),
                       v->si[k]),
              v->name, "acc_m_s2 of sample 0");
        CHECK(close_to(got.samples[0].gyr[k] * (double)ivp_gyr_lsb_rad_s(got.hdr.gyr_range_code),
                       v->si[3u + k]),
              v->name, "gyr_rad_s of sample 0");
        CHECK(close_to(got.samples[0].mag[k] * (double)IVP_MAG_UT_PER_LSB, v->si[6u + k]),
              v->name, "mag_uT of sample 0");
    }

    st = ivp_encode_data(&got, out, sizeof out, &out_len);
    CHECK(st == IVP_OK, v->name, "encode decoded packet");
    CHECK(bytes_equal(out, out_len, v->reenc, v->reenc_len), v->name, "re-encoded bytes");
    out_len = 0u;
    st = ivp_encode_data(&want, out, sizeof out, &out_len);
    CHECK(st == IVP_OK, v->name, "encode expected fields");
    CHECK(bytes_equal(out, out_len, v->reenc, v->reenc_len), v->name, "encoded bytes");
    /* one byte too little room must be refused without writing past it */
    st = ivp_encode_data(&want, out, v->reenc_len - 1u, &out_len);
    CHECK(st == IVP_ERR_BUFFER, v->name, "encode into a too small buffer");
}

/* ---------------------------------------------------------------- commands */

static int command_equal(const ivp_command *a, const ivp_command *b)
{
    if (a->opcode != b->opcode) {
        return 0;
    }
    switch (a->opcode) {
    case IVP_OP_CONFIGURE:
        return a->u.configure.rate_hz == b->u.configure.rate_hz &&
               a->u.configure.acc_range_code == b->u.configure.acc_range_code &&
               a->u.configure.gyr_range_code == b->u.configure.gyr_range_code &&
               a->u.configure.mag_enabled == b->u.configure.mag_enabled;
    case IVP_OP_BUZZ:
        return a->u.buzz.duration_ms == b->u.buzz.duration_ms &&
               a->u.buzz.intensity_pct == b->u.buzz.intensity_pct &&
               a->u.buzz.pattern == b->u.buzz.pattern;
    case IVP_OP_LED:
        return a->u.led.r == b->u.led.r && a->u.led.g == b->u.led.g &&
               a->u.led.b == b->u.led.b && a->u.led.duration_ms == b->u.led.duration_ms;
    case IVP_OP_IDENTIFY:
        return a->u.identify.duration_ms == b->u.identify.duration_ms;
    default:
        return 1;
    }
}

static void check_command(const tv_command *v)
{
    ivp_command got;
    uint8_t out[IVP_MAX_COMMAND_SIZE];
    size_t out_len = 0u;
    ivp_status st = ivp_decode_command(v->bytes, v->len, &got);

    CHECK(st == IVP_OK, v->name, ivp_status_name(st));
    if (st != IVP_OK) {
        return;
    }
    CHECK(command_equal(&got, &v->cmd), v->name, "decoded fields");
    st = ivp_encode_command(&v->cmd, out, sizeof out, &out_len);
    CHECK(st == IVP_OK, v->name, "encode");
    CHECK(bytes_equal(out, out_len, v->bytes, v->len), v->name, "encoded bytes");
    CHECK(ivp_command_size(v->cmd.opcode) == v->len, v->name, "ivp_command_size");
    st = ivp_encode_command(&v->cmd, out, v->len - 1u, &out_len);
    CHECK(st == IVP_ERR_BUFFER, v->name, "encode into a too small buffer");
}

/* ---------------------------------------------------------------- status */

static void check_status(const tv_status *v)
{
    ivp_sensor_status got;
    const ivp_sensor_status *w = &v->status;
    uint8_t out[IVP_STATUS_SIZE];
    ivp_status st = ivp_decode_status(v->bytes, v->len, &got);

    CHECK(st == IVP_OK, v->name, ivp_status_name(st));
    if (st != IVP_OK) {
        return;
    }
    CHECK(got.battery_pct == w->battery_pct, v->name, "battery_pct");
    CHECK(got.battery_mv == w->battery_mv, v->name, "battery_mv");
    CHECK(got.flags == w->flags, v->name, "flags");
    CHECK(got.rate_hz == w->rate_hz, v->name, "rate_hz");
    CHECK(got.ranges == w->ranges, v->name, "ranges");
    CHECK(got.options == w->options, v->name, "options");
    CHECK(got.dropped_samples == w->dropped_samples, v->name, "dropped_samples");
    CHECK(got.fw_major == w->fw_major, v->name, "fw_major");
    CHECK(got.fw_minor == w->fw_minor, v->name, "fw_minor");
    st = ivp_encode_status(w, out, sizeof out);
    CHECK(st == IVP_OK, v->name, "encode");
    CHECK(bytes_equal(out, IVP_STATUS_SIZE, v->reenc, v->reenc_len), v->name, "encoded bytes");
    st = ivp_encode_status(w, out, IVP_STATUS_SIZE - 1u);
    CHECK(st == IVP_ERR_BUFFER, v->name, "encode into a too small buffer");
}

/* ---------------------------------------------------------------- errors */

/* Decode with the decoder of v->kind; on success re-encode into out. */
static ivp_status decode_kind(const tv_error *v, uint8_t *out, size_t cap, size_t *out_len)
{
    ivp_status st;
    *out_len = 0u;
    if (v->kind == TV_DATA) {
        ivp_data_packet p;
        st = ivp_decode_data(v->bytes, v->len, &p);
        if (st == IVP_OK) {
            st = ivp_encode_data(&p, out, cap, out_len);
        }
    } else if (v->kind == TV_COMMAND) {
        ivp_command c;
        st = ivp_decode_command(v->bytes, v->len, &c);
        if (st == IVP_OK) {
            st = ivp_encode_command(&c, out, cap, out_len);
        }
    } else {
        ivp_sensor_status s;
        st = ivp_decode_status(v->bytes, v->len, &s);
        if (st == IVP_OK) {
            st = ivp_encode_status(&s, out, cap);
            *out_len = IVP_STATUS_SIZE;
        }
    }
    return st;
}

static void check_error(const tv_error *v)
{
    uint8_t out[IVP_MAX_DATA_SIZE];
    size_t out_len;
    ivp_status st = decode_kind(v, out, sizeof out, &out_len);
    if (strcmp(ivp_status_name(st), v->error) != 0) {
        ++failures;
        printf("FAIL %s: got %s, expected %s\n", v->name, ivp_status_name(st), v->error);
        return;
    }
    if (st == IVP_OK) {
        CHECK(bytes_equal(out, out_len, v->reenc, v->reenc_len), v->name, "re-encoded bytes");
    }
}

/* ---------------------------------------------------------------- API edges */

static unsigned check_api_edges(void)
{
    unsigned n = 0u;
    ivp_data_packet p;
    ivp_command c;
    ivp_sensor_status s;
    uint8_t buf[IVP_MAX_DATA_SIZE];
    size_t len;

    memset(buf, 0, sizeof buf);
    CHECK(ivp_max_samples_for_mtu(23u, false) == 0u, "mtu", "default MTU fits nothing");
    CHECK(ivp_max_samples_for_mtu(27u, false) == 1u, "mtu", "27 fits one sample");
    CHECK(ivp_max_samples_for_mtu(32u, true) == 0u, "mtu", "32 fits no mag sample");
    CHECK(ivp_max_samples_for_mtu(33u, true) == 1u, "mtu", "33 fits one mag sample");
    CHECK(ivp_max_samples_for_mtu(63u, false) == 4u, "mtu", "63 fits four samples");
    CHECK(ivp_max_samples_for_mtu(517u, false) == 32u, "mtu", "capped at 32");
    CHECK(ivp_max_samples_for_mtu(65535u, true) == 32u, "mtu", "capped at 32 with mag");
    CHECK(ivp_data_packet_size(0u, false) == 0u, "size", "n=0");
    CHECK(ivp_data_packet_size(33u, false) == 0u, "size", "n=33");
    CHECK(ivp_data_packet_size(4u, false) == 60u, "size", "n=4");
    CHECK(ivp_data_packet_size(32u, true) == IVP_MAX_DATA_SIZE, "size", "n=32 mag");
    n += 11u;

    CHECK(ivp_decode_data(NULL, 5u, &p) == IVP_ERR_NULL, "null", "data buf");
    CHECK(ivp_decode_data(buf, 5u, NULL) == IVP_ERR_NULL, "null", "data out");
    CHECK(ivp_decode_command(NULL, 0u, &c) == IVP_ERR_TOO_SHORT, "null", "empty command");
    CHECK(ivp_decode_status(buf, 1u, NULL) == IVP_ERR_NULL, "null", "status out");
    CHECK(ivp_encode_status(NULL, buf, sizeof buf) == IVP_ERR_NULL, "null", "status in");
    n += 5u;

    /* encoders apply the decoders' rules */
    memset(&p, 0, sizeof p);
    p.hdr.n_samples = 1u;
    p.hdr.period_us = 5000u;
    CHECK(ivp_encode_data(&p, buf, sizeof buf, &len) == IVP_OK, "enc", "valid minimal packet");
    p.hdr.period_us = 0u;
    CHECK(ivp_encode_data(&p, buf, sizeof buf, &len) == IVP_ERR_VALUE, "enc", "period 0");
    p.hdr.period_us = 1u;
    p.hdr.gyr_range_code = 5u;
    CHECK(ivp_encode_data(&p, buf, sizeof buf, &len) == IVP_ERR_RANGE, "enc", "gyr code 5");
    p.hdr.gyr_range_code = 0u;
    p.hdr.n_samples = 33u;
    CHECK(ivp_encode_data(&p, buf, sizeof buf, &len) == IVP_ERR_VALUE, "enc", "n 33");
    CHECK(ivp_encode_sample(&p.hdr, 33u, &p.samples[0], buf, sizeof buf) == IVP_ERR_VALUE,
          "enc", "sample index 33");
    n += 5u;

    memset(&c, 0, sizeof c);
    c.opcode = 0x04u;
    CHECK(ivp_encode_command(&c, buf, sizeof buf, &len) == IVP_ERR_OPCODE, "enc", "opcode 4");
    c.opcode = IVP_OP_BUZZ;
    c.u.buzz.duration_ms = 5001u;
    CHECK(ivp_encode_command(&c, buf, sizeof buf, &len) == IVP_ERR_VALUE, "enc", "buzz 5001");
    c.u.buzz.duration_ms = 100u;
    c.u.buzz.pattern = 5u;
    CHECK(ivp_encode_command(&c, buf, sizeof buf, &len) == IVP_ERR_VALUE, "enc", "pattern 5");
    c.opcode = IVP_OP_CONFIGURE;
    c.u.configure.rate_hz = 200u;
    c.u.configure.acc_range_code = 4u;
    CHECK(ivp_encode_command(&c, buf, sizeof buf, &len) == IVP_ERR_RANGE, "enc", "acc 4");
    n += 4u;

    memset(&s, 0, sizeof s);
    s.rate_hz = 200u;
    s.battery_pct = 200u;
    CHECK(ivp_encode_status(&s, buf, sizeof buf) == IVP_ERR_VALUE, "enc", "battery 200");
    s.battery_pct = IVP_BATTERY_PCT_UNKNOWN;
    CHECK(ivp_encode_status(&s, buf, sizeof buf) == IVP_OK, "enc", "battery unknown");
    n += 2u;

    CHECK(strcmp(ivp_status_name((ivp_status)99), "unknown") == 0, "names", "unknown");
    CHECK(ivp_acc_range_g(4u) == 0u && ivp_gyr_range_dps(5u) == 0u, "ranges", "invalid");
    CHECK(ivp_acc_range_g(3u) == 16u && ivp_gyr_range_dps(4u) == 2000u, "ranges", "max");
    n += 3u;
    return n;
}

int main(void)
{
    size_t i;
    unsigned total;
    unsigned edges;
    unsigned cross_ok = 0u;

    for (i = 0u; i < N_DATA_VECTORS; ++i) {
        check_data(&DATA_VECTORS[i]);
    }
    for (i = 0u; i < N_COMMAND_VECTORS; ++i) {
        check_command(&COMMAND_VECTORS[i]);
    }
    for (i = 0u; i < N_STATUS_VECTORS; ++i) {
        check_status(&STATUS_VECTORS[i]);
    }
    for (i = 0u; i < N_MALFORMED_VECTORS; ++i) {
        CHECK(strcmp(MALFORMED_VECTORS[i].error, "ok") != 0, MALFORMED_VECTORS[i].name,
              "a malformed vector must expect an error");
        check_error(&MALFORMED_VECTORS[i]);
    }
    for (i = 0u; i < N_CROSS_VECTORS; ++i) {
        check_error(&CROSS_VECTORS[i]);
        cross_ok += strcmp(CROSS_VECTORS[i].error, "ok") == 0 ? 1u : 0u;
    }
    edges = check_api_edges();

    total = (unsigned)(N_DATA_VECTORS + N_COMMAND_VECTORS + N_STATUS_VECTORS +
                       N_MALFORMED_VECTORS + N_CROSS_VECTORS);
    printf("ivp_codec: %u vectors checked (data=%u command=%u status=%u malformed=%u "
           "cross=%u cross_ok=%u api=%u), %u failures\n",
           total, (unsigned)N_DATA_VECTORS, (unsigned)N_COMMAND_VECTORS,
           (unsigned)N_STATUS_VECTORS, (unsigned)N_MALFORMED_VECTORS, (unsigned)N_CROSS_VECTORS,
           cross_ok, edges, failures);
    return (failures == 0u && total > 0u) ? 0 : 1;
}
