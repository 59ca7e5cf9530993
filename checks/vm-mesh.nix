# A Headscale server and two Tailscale clients, all configured through keystone.mesh: with a
# pre-auth key placed where `keystone deploy` puts it, both clients join and reach each other;
# a client without a key stays out. TLS in front of Headscale follows nixpkgs
# nixos/tests/headscale.nix (nginx with a self-signed certificate the clients trust).
{ ... }:
let
  loginServer = "https://headscale";
  keyPath = "/var/lib/keystone/secrets/mesh-auth-key";
  certificate =
    pkgs:
    pkgs.runCommand "headscale-test-certificate" { nativeBuildInputs = [ pkgs.openssl ]; } ''
      openssl req -x509 -newkey rsa:2048 -sha256 -days 365 -nodes -out cert.pem -keyout key.pem \
        -subj '/CN=headscale' -addext 'subjectAltName=DNS:headscale'
      mkdir -p $out
      cp key.pem cert.pem $out
    '';
  client =
    { pkgs, ... }:
    {
      keystone.mesh = {
        enable = true;
        inherit loginServer;
      };
      security.pki.certificateFiles = [ "${certificate pkgs}/cert.pem" ];
    };
in
{
  name = "vm-mesh";

  nodes = {
    headscale =
      { pkgs, ... }:
      {
        keystone.mesh = {
          server = true;
          headscale.serverUrl = loginServer;
        };
        services.nginx = {
          enable = true;
          virtualHosts.headscale = {
            addSSL = true;
            sslCertificate = "${certificate pkgs}/cert.pem";
            sslCertificateKey = "${certificate pkgs}/key.pem";
            locations."/" = {
              proxyPass = "http://127.0.0.1:8080";
              proxyWebsockets = true;
            };
          };
        };
        networking.firewall.allowedTCPPorts = [ 443 ];
        environment.systemPackages = [
          pkgs.headscale
          pkgs.jq
        ];
      };
    alice = client;
    bob = client;
    carol = client;
  };

  testScript = ''
    start_all()

    # the server: Headscale behind TLS, a user and a pre-auth key for the fleet
    headscale.wait_for_unit("headscale.service")
    headscale.wait_for_open_port(443)
    headscale.succeed("headscale users create fleet")
    user_id = headscale.succeed("headscale users list -o json | jq -r '.[] | select(.name == \"fleet\") | .id'").strip()
    key = headscale.succeed(f"headscale preauthkeys create --user {user_id} --reusable").strip().splitlines()[-1]

    # alice and bob get the key where keystone deploy installs it, then join
    for node in [alice, bob]:
        node.wait_for_unit("tailscaled.service")
        node.succeed(f"install -D -m 0400 /dev/stdin ${keyPath} <<< {key}")
        node.succeed("systemctl restart tailscaled-autoconnect.service")
        node.wait_until_succeeds("tailscale status --json | grep -q '\"BackendState\": \"Running\"'", timeout=120)

    # the key is a credential of the joining unit, never in its command line
    alice.fail(f"grep -rF {key} /nix/store/*-unit-tailscaled-autoconnect.service* 2>/dev/null")

    # alice and bob reach each other over the mesh
    bob_ip = bob.succeed("tailscale ip -4").strip()
    alice_ip = alice.succeed("tailscale ip -4").strip()
    alice.wait_until_succeeds(f"ping -c 1 -W 2 {bob_ip}", timeout=120)
    bob.wait_until_succeeds(f"ping -c 1 -W 2 {alice_ip}", timeout=120)

    # restarting the join unit keeps a joined node in the mesh
    alice.succeed("systemctl restart tailscaled-autoconnect.service")
    alice.wait_until_succeeds(f"ping -c 1 -W 2 {bob_ip}", timeout=60)

    # carol has no key: she never tries to join and is not in the mesh
    carol.wait_for_unit("tailscaled.service")
    carol.fail("systemctl is-active tailscaled-autoconnect.service")
    carol.fail(f"ping -c 1 -W 2 {bob_ip}")
  '';
}
