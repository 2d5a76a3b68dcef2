// The instance's public IPv4 from the EC2 instance metadata service (IMDSv2: token, then read).
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export async function fetchEc2PublicIpv4(options: { endpoint?: string; timeoutMs?: number } = {}): Promise<string> {
  const endpoint = (options.endpoint ?? 'http://169.254.169.254').replace(/\/$/, '');
  const timeoutMs = options.timeoutMs ?? 1000;
  const tokenResponse = await fetch(`${endpoint}/latest/api/token`, {
    method: 'PUT',
    headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!tokenResponse.ok) throw new Error(`imds.token-failed: HTTP ${tokenResponse.status}`);
  const token = await tokenResponse.text();
  const ipResponse = await fetch(`${endpoint}/latest/meta-data/public-ipv4`, {
    headers: { 'X-aws-ec2-metadata-token': token },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!ipResponse.ok)
    throw new Error(`imds.no-public-ipv4: HTTP ${ipResponse.status} (instance without a public IPv4?)`);
  const ip = (await ipResponse.text()).trim();
  if (!IPV4.test(ip)) throw new Error(`imds.bad-public-ipv4: ${JSON.stringify(ip.slice(0, 64))}`);
  return ip;
}
