// The relays' boot script (user data): Debian's coturn, configured for the TURN REST API only (the shared secret
// read from Secrets Manager at boot, never in the template), plain TURN on RELAY_TURN_PORT behind the NLB (which
// terminates TLS on 443), never an open relay: every IPv4 peer denied except the VPC's range, no TCP relay, no
// multicast, per-user and total quotas (and the relays' security group lets relayed media out only to the media
// nodes' relay-peer ports). The same settings as the local relay (local/coturn.ts) where they apply.
import { RELAY_TURN_PORT } from '../config';

export interface RelayBootSettings {
  readonly region: string;
  readonly secretArn: string;
  /** The TURN realm (the relays' DNS name). */
  readonly realm: string;
  /** Concurrent allocations per user (a session's two transports, twice over for an ICE restart). */
  readonly userQuota: number;
  readonly totalQuota: number;
}

/** The turnserver.conf lines; `$ip`, `$peers` and `$secret` are filled in by the boot script. */
export function relayTurnserverConf(s: Pick<RelayBootSettings, 'realm' | 'userQuota' | 'totalQuota'>): string[] {
  return [
    'listening-ip=$ip',
    'relay-ip=$ip',
    `listening-port=${RELAY_TURN_PORT}`,
    'no-tls',
    'no-dtls',
    `realm=${s.realm}`,
    'use-auth-secret',
    'static-auth-secret=$secret',
    'fingerprint',
    'no-cli',
    'no-tcp-relay',
    'no-multicast-peers',
    'denied-peer-ip=0.0.0.0-255.255.255.255',
    'allowed-peer-ip=$peers',
    `user-quota=${s.userQuota}`,
    `total-quota=${s.totalQuota}`,
    'min-port=49160',
    'max-port=65535',
    'syslog',
    'simple-log',
    'no-rfc5780',
    'no-stun-backward-compatibility',
    'response-origin-only-with-rfc5780',
  ];
}

export function relayBootCommands(s: RelayBootSettings): string[] {
  return [
    'set -euo pipefail',
    'export DEBIAN_FRONTEND=noninteractive',
    'apt-get update -q',
    'apt-get install -y -q coturn awscli python3 curl',
    'token=$(curl -sSf -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 300")',
    'imds() { curl -sSf -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"; }',
    'ip=$(imds local-ipv4)',
    'mac=$(imds mac)',
    // The VPC's range as coturn's "first-last" form: the media nodes' relay-peer candidates are private addresses in it.
    'peers=$(python3 -c \'import ipaddress,sys; n=ipaddress.ip_network(sys.argv[1]); print(f"{n[0]}-{n[-1]}")\' "$(imds network/interfaces/macs/$mac/vpc-ipv4-cidr-block)")',
    `secret=$(aws secretsmanager get-secret-value --region ${s.region} --secret-id ${s.secretArn} --query SecretString --output text)`,
    'umask 077',
    `cat > /etc/turnserver.conf <<CONF\n${relayTurnserverConf(s).join('\n')}\nCONF`,
    'chown turnserver:turnserver /etc/turnserver.conf',
    'systemctl enable coturn',
    'systemctl restart coturn',
  ];
}
