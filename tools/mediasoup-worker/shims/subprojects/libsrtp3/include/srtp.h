/*
 * <srtp.h> as seen by mediasoup >= 3.16: the libsrtp 3.x API subset that
 * mediasoup uses, implemented (srtp3_compat.c) on top of libsrtp 2.x.
 */
#ifndef MS_SRTP3_ON_SRTP2_H
#define MS_SRTP3_ON_SRTP2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <srtp2/srtp.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes that only exist in libsrtp 3.x. libsrtp2 never returns them. */
#define MS_SRTP3_ERR_BUFFER_SMALL ((srtp_err_status_t)100)
#define MS_SRTP3_ERR_CRYPTEX ((srtp_err_status_t)101)

typedef struct ms_srtp3_policy_ctx *ms_srtp3_policy_t;

srtp_err_status_t ms_srtp3_policy_create(ms_srtp3_policy_t *policy);
void ms_srtp3_policy_destroy(ms_srtp3_policy_t policy);
srtp_err_status_t ms_srtp3_policy_set_ssrc(ms_srtp3_policy_t policy, srtp_ssrc_t ssrc);
srtp_err_status_t ms_srtp3_policy_set_profile(ms_srtp3_policy_t policy, srtp_profile_t profile);
srtp_err_status_t ms_srtp3_policy_add_key(ms_srtp3_policy_t policy,
                                          const uint8_t *key, size_t key_len,
                                          const uint8_t *salt, size_t salt_len,
                                          const uint8_t *mki, size_t mki_len);
srtp_err_status_t ms_srtp3_policy_set_allow_repeat_tx(ms_srtp3_policy_t policy, bool allow);
srtp_err_status_t ms_srtp3_policy_set_window_size(ms_srtp3_policy_t policy, size_t window_size);
srtp_err_status_t ms_srtp3_create(srtp_t *session, const ms_srtp3_policy_t policy);
srtp_err_status_t ms_srtp3_protect(srtp_t ctx, const uint8_t *rtp, size_t rtp_len,
                                   uint8_t *srtp, size_t *srtp_len, size_t mki_index);
srtp_err_status_t ms_srtp3_unprotect(srtp_t ctx, const uint8_t *srtp, size_t srtp_len,
                                     uint8_t *rtp, size_t *rtp_len);
srtp_err_status_t ms_srtp3_protect_rtcp(srtp_t ctx, const uint8_t *rtcp, size_t rtcp_len,
                                        uint8_t *srtcp, size_t *srtcp_len, size_t mki_index);
srtp_err_status_t ms_srtp3_unprotect_rtcp(srtp_t ctx, const uint8_t *srtcp, size_t srtcp_len,
                                          uint8_t *rtcp, size_t *rtcp_len);

#ifdef __cplusplus
}
#endif

#ifndef MS_SRTP3_COMPAT_IMPL
/* Re-point the libsrtp 3.x names used by mediasoup to the adapter. */
#define srtp_policy_t ms_srtp3_policy_t
#define srtp_policy_create ms_srtp3_policy_create
#define srtp_policy_destroy ms_srtp3_policy_destroy
#define srtp_policy_set_ssrc ms_srtp3_policy_set_ssrc
#define srtp_policy_set_profile ms_srtp3_policy_set_profile
#define srtp_policy_add_key ms_srtp3_policy_add_key
#define srtp_policy_set_allow_repeat_tx ms_srtp3_policy_set_allow_repeat_tx
#define srtp_policy_set_window_size ms_srtp3_policy_set_window_size
#define srtp_create ms_srtp3_create
#define srtp_protect ms_srtp3_protect
#define srtp_unprotect ms_srtp3_unprotect
#define srtp_protect_rtcp ms_srtp3_protect_rtcp
#define srtp_unprotect_rtcp ms_srtp3_unprotect_rtcp
#define srtp_stream_remove srtp_remove_stream
#ifndef MS_SRTP2_HAS_SRTP_ERR_STATUS_BUFFER_SMALL
#define srtp_err_status_buffer_small MS_SRTP3_ERR_BUFFER_SMALL
#endif
#ifndef MS_SRTP2_HAS_SRTP_ERR_STATUS_CRYPTEX_ERR
#define srtp_err_status_cryptex_err MS_SRTP3_ERR_CRYPTEX
#endif
#endif

#endif
