// The one price table bench/scale.ts computes costs from: AWS us-east-1 on-demand LIST prices as known to
// the author (training knowledge, not fetched: nothing here was checked against a live price page on the
// day of writing, 2026-11-30). Volume tiers, free tiers, Savings Plans and Reserved Instances are ignored
// (they only lower the figure). Check the sources before quoting a number to anyone.

export const PRICES = {
  apiGateway: {
    // https://aws.amazon.com/api-gateway/pricing/ (WebSocket APIs): $1.00 per million messages for the first
    // 1 billion a month (then $0.80), messages metered in 32 KB increments, both directions (client frames,
    // keepalives to a mock route included, and every @connections post); $0.25 per million connection-minutes.
    perMillionMessages: 1.0,
    perMillionConnectionMinutes: 0.25,
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html: 10,000 requests/s per account and
    // Region across REST, HTTP, WebSocket APIs and WebSocket callback (@connections) APIs (adjustable quota).
    accountRequestsPerSecond: 10_000,
  },
  lambda: {
    // https://aws.amazon.com/lambda/pricing/: $0.20 per million requests; $0.0000166667 per GB-second (x86).
    perMillionRequests: 0.2,
    perGbSecond: 0.0000166667,
  },
  dynamodb: {
    // https://aws.amazon.com/dynamodb/pricing/on-demand/: after the November 2024 price cut, $0.625 per million
    // write request units and $0.125 per million read request units (Standard table class).
    perMillionWriteUnits: 0.625,
    perMillionReadUnits: 0.125,
  },
  ec2: {
    // https://aws.amazon.com/ec2/pricing/on-demand/: c7i.large (2 vCPU, 4 GiB), Linux, $0.08925 per hour.
    c7iLargePerHour: 0.08925,
    c7iLargeVcpus: 2,
  },
  dataTransfer: {
    // https://aws.amazon.com/ec2/pricing/on-demand/ (Data Transfer): out to the internet, first 10 TB/month, $0.09/GB.
    outPerGb: 0.09,
  },
} as const;

/** What a buyer compares with: published per-participant(attendee)-minute list prices, as known to the author. */
export const ANCHORS = [
  // https://aws.amazon.com/chime/chime-sdk/pricing/: WebRTC media sessions $0.0017 per attendee-minute.
  {
    name: 'Amazon Chime SDK',
    perParticipantMinute: 0.0017,
    source: 'aws.amazon.com/chime/chime-sdk/pricing ($0.0017/attendee-minute)',
  },
  // https://livekit.io/pricing: LiveKit Cloud connection minutes, $0.0005 per participant-minute beyond the
  // plan's included minutes (author's recollection of the 2024-25 price list; plans change often).
  {
    name: 'LiveKit Cloud',
    perParticipantMinute: 0.0005,
    source: 'livekit.io/pricing (assumed $0.0005/participant-minute overage)',
  },
  // https://www.twilio.com/en-us/video/pricing: Twilio Video Group Rooms $0.004 per participant-minute.
  {
    name: 'Twilio Video',
    perParticipantMinute: 0.004,
    source: 'twilio.com/en-us/video/pricing (assumed $0.004/participant-minute, Group Rooms)',
  },
] as const;
