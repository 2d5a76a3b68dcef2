/* SRTP protect cost of the libsrtp2 the dynamic linker finds (Debian's, or another via
 * LD_LIBRARY_PATH): one session per profile, N Opus-sized RTP packets (12-byte header + 80-byte
 * payload) protected in a loop, as the worker does once per consumer per forwarded packet.
 * Prints one line per profile: "<profile> <ns per packet> <packets>".
 * Usage: protect <packets> [profile...]   profiles: cm80 cm32 gcm128 gcm256 (default: all) */
#include <srtp2/srtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int setup(const char *name, srtp_policy_t *policy, unsigned char *key) {
  memset(policy, 0, sizeof(*policy));
  if (!strcmp(name, "cm80")) {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy->rtp);
  } else if (!strcmp(name, "cm32")) {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&policy->rtp);
  } else if (!strcmp(name, "gcm128")) {
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy->rtp);
  } else if (!strcmp(name, "gcm256")) {
    srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy->rtp);
  } else {
    return -1;
  }
  srtp_crypto_policy_set_rtcp_default(&policy->rtcp);
  policy->ssrc.type = ssrc_any_outbound;
  policy->key = key;
  policy->window_size = 1024;
  policy->allow_repeat_tx = 1;
  return 0;
}

int main(int argc, char **argv) {
  long packets = argc > 1 ? atol(argv[1]) : 200000;
  const char *all[] = {"cm80", "cm32", "gcm128", "gcm256"};
  const char **names = argc > 2 ? (const char **)&argv[2] : all;
  int count = argc > 2 ? argc - 2 : 4;
  unsigned char key[46];
  for (int i = 0; i < 46; i++) key[i] = (unsigned char)(i * 7 + 1);
  if (srtp_init() != srtp_err_status_ok) return 2;
  for (int p = 0; p < count; p++) {
    srtp_policy_t policy;
    srtp_t session;
    if (setup(names[p], &policy, key) != 0) { fprintf(stderr, "unknown profile %s\n", names[p]); return 1; }
    if (srtp_create(&session, &policy) != srtp_err_status_ok) { fprintf(stderr, "srtp_create failed for %s\n", names[p]); return 3; }
    unsigned char packet[12 + 80 + SRTP_MAX_TRAILER_LEN];
    struct timespec start, end;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
    for (long i = 0; i < packets; i++) {
      memset(packet, 0x5a, sizeof(packet));
      packet[0] = 0x80; packet[1] = 100;
      packet[2] = (unsigned char)(i >> 8); packet[3] = (unsigned char)i;
      packet[8] = 0; packet[9] = 0; packet[10] = 0x03; packet[11] = 0xe8;
      int len = 12 + 80;
      if (srtp_protect(session, packet, &len) != srtp_err_status_ok) { fprintf(stderr, "protect failed\n"); return 4; }
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &end);
    double ns = (end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec);
    printf("%s %.1f %ld\n", names[p], ns / packets, packets);
    srtp_dealloc(session);
  }
  srtp_shutdown();
  return 0;
}
