/* libsrtp 3.x API subset (as used by mediasoup) implemented on libsrtp 2.x. */
#define MS_SRTP3_COMPAT_IMPL
#include "srtp.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct ms_srtp3_policy_ctx
{
  srtp_policy_t p; /* libsrtp 2.x policy struct */
  unsigned char key[SRTP_MAX_KEY_LEN]; /* master key || master salt */
};

srtp_err_status_t ms_srtp3_policy_create(ms_srtp3_policy_t *policy)
{
  struct ms_srtp3_policy_ctx *c;
  if (policy == NULL)
    return srtp_err_status_bad_param;
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    return srtp_err_status_alloc_fail;
  *policy = c;
  return srtp_err_status_ok;
}

void ms_srtp3_policy_destroy(ms_srtp3_policy_t policy)
{
  if (policy == NULL)
    return;
  memset(policy, 0, sizeof(*policy)); /* wipe key material */
  free(policy);
}

srtp_err_status_t ms_srtp3_policy_set_ssrc(ms_srtp3_policy_t policy, srtp_ssrc_t ssrc)
{
  if (policy == NULL)
    return srtp_err_status_bad_param;
  policy->p.ssrc = ssrc;
  return srtp_err_status_ok;
}

srtp_err_status_t ms_srtp3_policy_set_profile(ms_srtp3_policy_t policy, srtp_profile_t profile)
{
  srtp_err_status_t err;
  if (policy == NULL)
    return srtp_err_status_bad_param;
  err = srtp_crypto_policy_set_from_profile_for_rtp(&policy->p.rtp, profile);
  if (err != srtp_err_status_ok)
    return err;
  /* For *_sha1_32 this correctly selects an 80-bit tag for SRTCP. */
  return srtp_crypto_policy_set_from_profile_for_rtcp(&policy->p.rtcp, profile);
}

srtp_err_status_t ms_srtp3_policy_add_key(ms_srtp3_policy_t policy,
                                          const uint8_t *key, size_t key_len,
                                          const uint8_t *salt, size_t salt_len,
                                          const uint8_t *mki, size_t mki_len)
{
  (void)mki;
  if (policy == NULL || key == NULL || (salt == NULL && salt_len != 0))
    return srtp_err_status_bad_param;
  if (mki_len != 0) /* MKI is not supported by this adapter (mediasoup never uses it) */
    return srtp_err_status_bad_param;
  if (key_len + salt_len > sizeof(policy->key))
    return srtp_err_status_bad_param;
  if (key_len + salt_len != (size_t)policy->p.rtp.cipher_key_len)
    return srtp_err_status_bad_param; /* set_profile must come first */
  memcpy(policy->key, key, key_len);
  if (salt_len != 0)
    memcpy(policy->key + key_len, salt, salt_len);
  policy->p.key = policy->key;
  return srtp_err_status_ok;
}

srtp_err_status_t ms_srtp3_policy_set_allow_repeat_tx(ms_srtp3_policy_t policy, bool allow)
{
  if (policy == NULL)
    return srtp_err_status_bad_param;
  policy->p.allow_repeat_tx = allow ? 1 : 0;
  return srtp_err_status_ok;
}

srtp_err_status_t ms_srtp3_policy_set_window_size(ms_srtp3_policy_t policy, size_t window_size)
{
  if (policy == NULL)
    return srtp_err_status_bad_param;
  policy->p.window_size = (unsigned long)window_size;
  return srtp_err_status_ok;
}

srtp_err_status_t ms_srtp3_create(srtp_t *session, const ms_srtp3_policy_t policy)
{
  if (policy == NULL || policy->p.key == NULL)
    return srtp_err_status_bad_param;
  policy->p.next = NULL;
  return srtp_create(session, &policy->p);
}

static srtp_err_status_t protect_common(srtp_t ctx, const uint8_t *in, size_t in_len,
                                        uint8_t *out, size_t *out_len, int rtcp)
{
  srtp_err_status_t err;
  int len;
  if (out == NULL || out_len == NULL || in_len > (size_t)INT_MAX - 256)
    return srtp_err_status_bad_param;
  /* libsrtp2 writes the trailer in place (+4 bytes of SRTCP index for RTCP). */
  if (*out_len < in_len + SRTP_MAX_TRAILER_LEN + (rtcp ? 4 : 0))
    return MS_SRTP3_ERR_BUFFER_SMALL;
  if (out != in)
    memmove(out, in, in_len);
  len = (int)in_len;
  err = rtcp ? srtp_protect_rtcp(ctx, out, &len) : srtp_protect(ctx, out, &len);
  if (err == srtp_err_status_ok)
    *out_len = (size_t)len;
  return err;
}

static srtp_err_status_t unprotect_common(srtp_t ctx, const uint8_t *in, size_t in_len,
                                          uint8_t *out, size_t *out_len, int rtcp)
{
  srtp_err_status_t err;
  int len;
  if (out == NULL || out_len == NULL || in_len > (size_t)INT_MAX)
    return srtp_err_status_bad_param;
  if (out != in)
  {
    if (*out_len < in_len)
      return MS_SRTP3_ERR_BUFFER_SMALL;
    memmove(out, in, in_len);
  }
  len = (int)in_len;
  err = rtcp ? srtp_unprotect_rtcp(ctx, out, &len) : srtp_unprotect(ctx, out, &len);
  if (err == srtp_err_status_ok)
    *out_len = (size_t)len;
  return err;
}

srtp_err_status_t ms_srtp3_protect(srtp_t ctx, const uint8_t *rtp, size_t rtp_len,
                                   uint8_t *srtp, size_t *srtp_len, size_t mki_index)
{
  (void)mki_index;
  return protect_common(ctx, rtp, rtp_len, srtp, srtp_len, 0);
}

srtp_err_status_t ms_srtp3_unprotect(srtp_t ctx, const uint8_t *srtp, size_t srtp_len,
                                     uint8_t *rtp, size_t *rtp_len)
{
  return unprotect_common(ctx, srtp, srtp_len, rtp, rtp_len, 0);
}

srtp_err_status_t ms_srtp3_protect_rtcp(srtp_t ctx, const uint8_t *rtcp, size_t rtcp_len,
                                        uint8_t *srtcp, size_t *srtcp_len, size_t mki_index)
{
  (void)mki_index;
  return protect_common(ctx, rtcp, rtcp_len, srtcp, srtcp_len, 1);
}

srtp_err_status_t ms_srtp3_unprotect_rtcp(srtp_t ctx, const uint8_t *srtcp, size_t srtcp_len,
                                          uint8_t *rtcp, size_t *rtcp_len)
{
  return unprotect_common(ctx, srtcp, srtcp_len, rtcp, rtcp_len, 1);
}
