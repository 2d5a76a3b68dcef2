// What a relayed user costs per hour on AWS (docs/reachability.md; printed by `npm run bench:reach`). A model with
// its assumptions spelled out, not a measurement: list prices of us-east-1 (on-demand, December 2026 price pages),
// and the voice traffic of one relayed member.
//   - instances: a relay instance's hourly price shared by the relayed users it carries (an assumption: coturn
//     forwards a few hundred Opus streams per core with room to spare; not measured here);
//   - the NLB: its hour shared likewise, and its capacity units: processed bytes (1 GB per LCU-hour) and active TLS
//     connections (3,000 per LCU; a session holds two, one per transport);
//   - data out: the relay sends the member what the media node would otherwise have sent it directly, so it is not an
//     extra cost of relaying (listed for completeness); relay ↔ media node stays in the VPC (same-AZ free, cross-AZ
//     $0.01/GB charged on each side, so $0.02 per GB crossing: half the traffic assumed cross-AZ).

export interface RelayCostInputs {
  /** $/hour of one relay instance (c7i.large on demand). */
  instancePerHour: number;
  /** Relayed members one instance carries at the target load (assumed). */
  usersPerInstance: number;
  /** $/hour of the NLB and of one LCU. */
  nlbPerHour: number;
  lcuPerHour: number;
  /** Relayed members per NLB (its fixed hour is shared by them). */
  usersPerNlb: number;
  /** Audio each way (kbit/s): Opus voice ~32 kbit/s + RTP/SRTP/TURN/TLS framing; DTX halves it in practice (not counted). */
  kbpsEachWay: number;
  /** $/GB crossing AZs ($0.01 out + $0.01 in) and the share of relay ↔ media-node traffic that does. */
  crossAzPerGb: number;
  crossAzShare: number;
}

export const RELAY_COST_DEFAULTS: RelayCostInputs = {
  instancePerHour: 0.0893,
  usersPerInstance: 500,
  nlbPerHour: 0.0225,
  lcuPerHour: 0.006,
  usersPerNlb: 500,
  kbpsEachWay: 48,
  crossAzPerGb: 0.02,
  crossAzShare: 0.5,
};

export interface RelayCost {
  perUserHour: number;
  parts: Record<'instances' | 'nlbHour' | 'nlbLcu' | 'crossAz', number>;
}

export function relayCostPerUserHour(i: RelayCostInputs = RELAY_COST_DEFAULTS): RelayCost {
  const gbPerHourBothWays = (2 * i.kbpsEachWay * 1000 * 3600) / 8 / 1e9;
  // LCU: the larger of its dimensions; for voice, processed bytes (1 GB/h per LCU) dominate TLS connections (2 / 3,000).
  const lcus = Math.max(gbPerHourBothWays / 1, 2 / 3000);
  const parts = {
    instances: i.instancePerHour / i.usersPerInstance,
    nlbHour: i.nlbPerHour / i.usersPerNlb,
    nlbLcu: lcus * i.lcuPerHour,
    crossAz: gbPerHourBothWays * i.crossAzShare * i.crossAzPerGb,
  };
  return { perUserHour: Object.values(parts).reduce((a, b) => a + b, 0), parts };
}
