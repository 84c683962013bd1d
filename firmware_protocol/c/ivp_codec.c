/*
 * ivp_codec.c - imu-valgus firmware protocol v1 reference codec (see ivp_codec.h).
 */
#include "ivp_codec.h"

/* ------------------------------------------------------------------ byte helpers */

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] | ((uint16_t)p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* Two's-complement int16 from its little-endian bytes without implementation-
 * defined conversions. */
static int16_t get_i16(const uint8_t *p)
{
    uint16_t u = get_u16(p);
    if (u < 0x8000u) {
        return (int16_t)u;
    }
    return (int16_t)(-(int16_t)(0xFFFFu - u) - 1);
}

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

static void put_i16(uint8_t *p, int16_t v)
{
    /* Conversion of a negative value to unsigned is defined (modulo 2^16). */
    put_u16(p, (uint16_t)v);
}

/* ------------------------------------------------------------------ names & scales */

const char *ivp_status_name(ivp_status status)
{
    switch (status) {
    case IVP_OK:
        return "ok";
    case IVP_ERR_TOO_SHORT:
        return "too_short";
    case IVP_ERR_VERSION:
        return "version";
    case IVP_ERR_LENGTH:
        return "length";
    case IVP_ERR_RANGE:
        return "range";
    case IVP_ERR_OPCODE:
        return "opcode";
    case IVP_ERR_VALUE:
        return "value";
    case IVP_ERR_BUFFER:
        return "buffer";
    case IVP_ERR_NULL:
        return "null";
    }
    return "unknown";
}

static const uint16_t acc_ranges_g[IVP_ACC_RANGE_CODES] = {2u, 4u, 8u, 16u};
static const uint16_t gyr_ranges_dps[IVP_GYR_RANGE_CODES] = {125u, 250u, 500u, 1000u, 2000u};

uint16_t ivp_acc_range_g(uint8_t code)
{
    return code < IVP_ACC_RANGE_CODES ? acc_ranges_g[code] : 0u;
}

uint16_t ivp_gyr_range_dps(uint8_t code)
{
    return code < IVP_GYR_RANGE_CODES ? gyr_ranges_dps[code] : 0u;
}

float ivp_acc_lsb_m_s2(uint8_t code)
{
    return (float)ivp_acc_range_g(code) * 9.80665f / 32768.0f;
}

float ivp_gyr_lsb_rad_s(uint8_t code)
{
    return (float)ivp_gyr_range_dps(code) / 32768.0f * (3.14159265358979f / 180.0f);
}

/* Range codes of a packed ranges byte, acc first (the documented check order). */
static ivp_status check_ranges(uint8_t acc_code, uint8_t gyr_code)
{
    if (acc_code >= IVP_ACC_RANGE_CODES || gyr_code >= IVP_GYR_RANGE_CODES) {
        return IVP_ERR_RANGE;
    }
    return IVP_OK;
}

static uint8_t pack_ranges(uint8_t acc_code, uint8_t gyr_code)
{
    return (uint8_t)((acc_code & 0x0Fu) | ((gyr_code & 0x0Fu) << 4));
}

/* ------------------------------------------------------------------ data packets */

size_t ivp_data_packet_size(uint8_t n_samples, bool has_mag)
{
    if (n_samples < 1u || n_samples > IVP_MAX_SAMPLES) {
        return 0u;
    }
    return IVP_HEADER_SIZE +
           (size_t)n_samples * (has_mag ? IVP_SAMPLE_SIZE_MAG : IVP_SAMPLE_SIZE);
}

uint8_t ivp_max_samples_for_mtu(uint16_t att_mtu, bool has_mag)
{
    size_t per = has_mag ? IVP_SAMPLE_SIZE_MAG : IVP_SAMPLE_SIZE;
    size_t n;
    if ((size_t)att_mtu < IVP_ATT_NOTIFY_OVERHEAD + IVP_HEADER_SIZE + per) {
        return 0u;
    }
    n = ((size_t)att_mtu - IVP_ATT_NOTIFY_OVERHEAD - IVP_HEADER_SIZE) / per;
    return (uint8_t)(n > IVP_MAX_SAMPLES ? IVP_MAX_SAMPLES : n);
}

/* Header field rules shared by decode and encode (after framing checks). */
static ivp_status check_header_fields(uint16_t period_us, uint8_t acc_code, uint8_t gyr_code)
{
    if (period_us == 0u) {
        return IVP_ERR_VALUE;
    }
    return check_ranges(acc_code, gyr_code);
}

ivp_status ivp_decode_data_header(const uint8_t *buf, size_t len, ivp_data_header *out)
{
    ivp_data_header h;
    uint8_t flags;
    uint8_t ranges;
    ivp_status st;

    if (out == NULL || (buf == NULL && len > 0u)) {
        return IVP_ERR_NULL;
    }
    if (len == 0u) {
        return IVP_ERR_TOO_SHORT;
    }
    if (buf[0] != IVP_PROTOCOL_VERSION) {
        return IVP_ERR_VERSION;
    }
    if (len < IVP_HEADER_SIZE) {
        return IVP_ERR_TOO_SHORT;
    }
    flags = buf[1];
    h.seq = get_u16(buf + 2);
    h.t0_us = get_u32(buf + 4);
    h.period_us = get_u16(buf + 8);
    h.n_samples = buf[10];
    ranges = buf[11];
    h.acc_range_code = (uint8_t)(ranges & 0x0Fu);
    h.gyr_range_code = (uint8_t)(ranges >> 4);
    h.has_mag = (flags & IVP_DATA_FLAG_MAG) != 0u;
    h.saturated = (flags & IVP_DATA_FLAG_SATURATED) != 0u;

    if (h.n_samples < 1u || h.n_samples > IVP_MAX_SAMPLES) {
        return IVP_ERR_VALUE;
    }
    if (len != ivp_data_packet_size(h.n_samples, h.has_mag)) {
        return IVP_ERR_LENGTH;
    }
    st = check_header_fields(h.period_us, h.acc_range_code, h.gyr_range_code);
    if (st != IVP_OK) {
        return st;
    }
    *out = h;
    return IVP_OK;
}

void ivp_decode_sample(const uint8_t *buf, const ivp_data_header *hdr, uint8_t i,
                       ivp_sample *out)
{
    size_t per = hdr->has_mag ? IVP_SAMPLE_SIZE_MAG : IVP_SAMPLE_SIZE;
    const uint8_t *p = buf + IVP_HEADER_SIZE + (size_t)i * per;
    unsigned k;
    for (k = 0u; k < 3u; ++k) {
        out->acc[k] = get_i16(p + 2u * k);
        out->gyr[k] = get_i16(p + 6u + 2u * k);
        out->mag[k] = hdr->has_mag ? get_i16(p + 12u + 2u * k) : 0;
    }
}

ivp_status ivp_decode_data(const uint8_t *buf, size_t len, ivp_data_packet *out)
{
    ivp_status st;
    uint8_t i;
    if (out == NULL) {
        return IVP_ERR_NULL;
    }
    st = ivp_decode_data_header(buf, len, &out->hdr);
    if (st != IVP_OK) {
        return st;
    }
    for (i = 0u; i < out->hdr.n_samples; ++i) {
        ivp_decode_sample(buf, &out->hdr, i, &out->samples[i]);
    }
    return IVP_OK;
}

ivp_status ivp_encode_data_header(const ivp_data_header *hdr, uint8_t *buf, size_t cap)
{
    ivp_status st;
    uint8_t flags;
    if (hdr == NULL || buf == NULL) {
        return IVP_ERR_NULL;
    }
    if (hdr->n_samples < 1u || hdr->n_samples > IVP_MAX_SAMPLES) {
        return IVP_ERR_VALUE;
    }
    st = check_header_fields(hdr->period_us, hdr->acc_range_code, hdr->gyr_range_code);
    if (st != IVP_OK) {
        return st;
    }
    if (cap < IVP_HEADER_SIZE) {
        return IVP_ERR_BUFFER;
    }
    flags = (uint8_t)((hdr->has_mag ? IVP_DATA_FLAG_MAG : 0u) |
                      (hdr->saturated ? IVP_DATA_FLAG_SATURATED : 0u));
    buf[0] = (uint8_t)IVP_PROTOCOL_VERSION;
    buf[1] = flags;
    put_u16(buf + 2, hdr->seq);
    put_u32(buf + 4, hdr->t0_us);
    put_u16(buf + 8, hdr->period_us);
    buf[10] = hdr->n_samples;
    buf[11] = pack_ranges(hdr->acc_range_code, hdr->gyr_range_code);
    return IVP_OK;
}

ivp_status ivp_encode_sample(const ivp_data_header *hdr, uint8_t i, const ivp_sample *s,
                             uint8_t *buf, size_t cap)
{
    size_t per;
    uint8_t *p;
    unsigned k;
    if (hdr == NULL || s == NULL || buf == NULL) {
        return IVP_ERR_NULL;
    }
    if (i >= hdr->n_samples || i >= IVP_MAX_SAMPLES) {
        return IVP_ERR_VALUE;
    }
    per = hdr->has_mag ? IVP_SAMPLE_SIZE_MAG : IVP_SAMPLE_SIZE;
    if (cap < IVP_HEADER_SIZE + ((size_t)i + 1u) * per) {
        return IVP_ERR_BUFFER;
    }
    p = buf + IVP_HEADER_SIZE + (size_t)i * per;
    for (k = 0u; k < 3u; ++k) {
        put_i16(p + 2u * k, s->acc[k]);
        put_i16(p + 6u + 2u * k, s->gyr[k]);
        if (hdr->has_mag) {
            put_i16(p + 12u + 2u * k, s->mag[k]);
        }
    }
    return IVP_OK;
}

ivp_status ivp_encode_data(const ivp_data_packet *pkt, uint8_t *buf, size_t cap,
                           size_t *out_len)
{
    ivp_status st;
    size_t size;
    uint8_t i;
    if (pkt == NULL || buf == NULL || out_len == NULL) {
        return IVP_ERR_NULL;
    }
    size = ivp_data_packet_size(pkt->hdr.n_samples, pkt->hdr.has_mag);
    if (size == 0u) {
        return IVP_ERR_VALUE;
    }
    st = check_header_fields(pkt->hdr.period_us, pkt->hdr.acc_range_code,
                             pkt->hdr.gyr_range_code);
    if (st != IVP_OK) {
        return st;
    }
    if (cap < size) {
        return IVP_ERR_BUFFER;
    }
    st = ivp_encode_data_header(&pkt->hdr, buf, cap);
    for (i = 0u; st == IVP_OK && i < pkt->hdr.n_samples; ++i) {
        st = ivp_encode_sample(&pkt->hdr, i, &pkt->samples[i], buf, cap);
    }
    if (st == IVP_OK) {
        *out_len = size;
    }
    return st;
}

/* ------------------------------------------------------------------ commands */

size_t ivp_command_size(uint8_t opcode)
{
    switch (opcode) {
    case IVP_OP_START:
    case IVP_OP_STOP:
        return 2u;
    case IVP_OP_CONFIGURE:
    case IVP_OP_BUZZ:
        return 6u;
    case IVP_OP_LED:
        return 7u;
    case IVP_OP_IDENTIFY:
        return 4u;
    default:
        return 0u;
    }
}

/* Payload rules, in wire order, shared by decode and encode. */
static ivp_status check_configure(const ivp_configure *c)
{
    if (c->rate_hz < IVP_RATE_HZ_MIN || c->rate_hz > IVP_RATE_HZ_MAX) {
        return IVP_ERR_VALUE;
    }
    return check_ranges(c->acc_range_code, c->gyr_range_code);
}

static ivp_status check_buzz(const ivp_buzz *b)
{
    if (b->duration_ms < 1u || b->duration_ms > IVP_BUZZ_DURATION_MS_MAX) {
        return IVP_ERR_VALUE;
    }
    if (b->intensity_pct > IVP_BUZZ_INTENSITY_MAX) {
        return IVP_ERR_VALUE;
    }
    if (b->pattern > (uint8_t)IVP_BUZZ_PULSE) {
        return IVP_ERR_VALUE;
    }
    return IVP_OK;
}

ivp_status ivp_decode_command(const uint8_t *buf, size_t len, ivp_command *out)
{
    ivp_command c;
    size_t size;
    ivp_status st = IVP_OK;

    if (out == NULL || (buf == NULL && len > 0u)) {
        return IVP_ERR_NULL;
    }
    if (len == 0u) {
        return IVP_ERR_TOO_SHORT;
    }
    if (buf[0] != IVP_PROTOCOL_VERSION) {
        return IVP_ERR_VERSION;
    }
    if (len < 2u) {
        return IVP_ERR_TOO_SHORT;
    }
    c.opcode = buf[1];
    size = ivp_command_size(c.opcode);
    if (size == 0u) {
        return IVP_ERR_OPCODE;
    }
    if (len != size) {
        return IVP_ERR_LENGTH;
    }
    switch (c.opcode) {
    case IVP_OP_CONFIGURE:
        c.u.configure.rate_hz = get_u16(buf + 2);
        c.u.configure.acc_range_code = (uint8_t)(buf[4] & 0x0Fu);
        c.u.configure.gyr_range_code = (uint8_t)(buf[4] >> 4);
        c.u.configure.mag_enabled = (buf[5] & IVP_OPTION_MAG) != 0u;
        st = check_configure(&c.u.configure);
        if (st == IVP_OK && (buf[5] & (uint8_t)~IVP_OPTION_MAG) != 0u) {
            st = IVP_ERR_VALUE; /* reserved option bits: refuse, do not ignore */
        }
        break;
    case IVP_OP_BUZZ:
        c.u.buzz.duration_ms = get_u16(buf + 2);
        c.u.buzz.intensity_pct = buf[4];
        c.u.buzz.pattern = buf[5];
        st = check_buzz(&c.u.buzz);
        break;
    case IVP_OP_LED:
        c.u.led.r = buf[2];
        c.u.led.g = buf[3];
        c.u.led.b = buf[4];
        c.u.led.duration_ms = get_u16(buf + 5);
        break;
    case IVP_OP_IDENTIFY:
        c.u.identify.duration_ms = get_u16(buf + 2);
        break;
    default: /* START, STOP: no payload */
        break;
    }
    if (st == IVP_OK) {
        *out = c;
    }
    return st;
}

ivp_status ivp_encode_command(const ivp_command *cmd, uint8_t *buf, size_t cap,
                              size_t *out_len)
{
    size_t size;
    ivp_status st = IVP_OK;
    if (cmd == NULL || buf == NULL || out_len == NULL) {
        return IVP_ERR_NULL;
    }
    size = ivp_command_size(cmd->opcode);
    if (size == 0u) {
        return IVP_ERR_OPCODE;
    }
    if (cmd->opcode == IVP_OP_CONFIGURE) {
        st = check_configure(&cmd->u.configure);
    } else if (cmd->opcode == IVP_OP_BUZZ) {
        st = check_buzz(&cmd->u.buzz);
    }
    if (st != IVP_OK) {
        return st;
    }
    if (cap < size) {
        return IVP_ERR_BUFFER;
    }
    buf[0] = (uint8_t)IVP_PROTOCOL_VERSION;
    buf[1] = cmd->opcode;
    switch (cmd->opcode) {
    case IVP_OP_CONFIGURE:
        put_u16(buf + 2, cmd->u.configure.rate_hz);
        buf[4] = pack_ranges(cmd->u.configure.acc_range_code, cmd->u.configure.gyr_range_code);
        buf[5] = (uint8_t)(cmd->u.configure.mag_enabled ? IVP_OPTION_MAG : 0u);
        break;
    case IVP_OP_BUZZ:
        put_u16(buf + 2, cmd->u.buzz.duration_ms);
        buf[4] = cmd->u.buzz.intensity_pct;
        buf[5] = cmd->u.buzz.pattern;
        break;
    case IVP_OP_LED:
        buf[2] = cmd->u.led.r;
        buf[3] = cmd->u.led.g;
        buf[4] = cmd->u.led.b;
        put_u16(buf + 5, cmd->u.led.duration_ms);
        break;
    case IVP_OP_IDENTIFY:
        put_u16(buf + 2, cmd->u.identify.duration_ms);
        break;
    default:
        break;
    }
    *out_len = size;
    return IVP_OK;
}

/* ------------------------------------------------------------------ status */

static ivp_status check_status(const ivp_sensor_status *s)
{
    if (s->battery_pct > 100u && s->battery_pct != IVP_BATTERY_PCT_UNKNOWN) {
        return IVP_ERR_VALUE;
    }
    if (s->rate_hz < IVP_RATE_HZ_MIN || s->rate_hz > IVP_RATE_HZ_MAX) {
        return IVP_ERR_VALUE;
    }
    return check_ranges((uint8_t)(s->ranges & 0x0Fu), (uint8_t)(s->ranges >> 4));
}

ivp_status ivp_decode_status(const uint8_t *buf, size_t len, ivp_sensor_status *out)
{
    ivp_sensor_status s;
    ivp_status st;
    if (out == NULL || (buf == NULL && len > 0u)) {
        return IVP_ERR_NULL;
    }
    if (len == 0u) {
        return IVP_ERR_TOO_SHORT;
    }
    if (buf[0] != IVP_PROTOCOL_VERSION) {
        return IVP_ERR_VERSION;
    }
    if (len < IVP_STATUS_SIZE) {
        return IVP_ERR_TOO_SHORT;
    }
    s.battery_pct = buf[1];
    s.battery_mv = get_u16(buf + 2);
    s.flags = get_u16(buf + 4);
    s.rate_hz = get_u16(buf + 6);
    s.ranges = buf[8];
    s.options = buf[9];
    s.dropped_samples = get_u32(buf + 10);
    s.fw_major = buf[14];
    s.fw_minor = buf[15];
    st = check_status(&s);
    if (st == IVP_OK) {
        *out = s;
    }
    return st;
}

ivp_status ivp_encode_status(const ivp_sensor_status *st, uint8_t *buf, size_t cap)
{
    ivp_status r;
    if (st == NULL || buf == NULL) {
        return IVP_ERR_NULL;
    }
    r = check_status(st);
    if (r != IVP_OK) {
        return r;
    }
    if (cap < IVP_STATUS_SIZE) {
        return IVP_ERR_BUFFER;
    }
    buf[0] = (uint8_t)IVP_PROTOCOL_VERSION;
    buf[1] = st->battery_pct;
    put_u16(buf + 2, st->battery_mv);
    put_u16(buf + 4, st->flags);
    put_u16(buf + 6, st->rate_hz);
    buf[8] = st->ranges;
    buf[9] = st->options;
    put_u32(buf + 10, st->dropped_samples);
    buf[14] = st->fw_major;
    buf[15] = st->fw_minor;
    return IVP_OK;
}
