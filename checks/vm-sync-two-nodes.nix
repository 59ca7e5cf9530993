# An S3 server and two hosts whose keystone.syncAgent keeps /srv/shared in two-way sync: a file
# reaches the other host; with the server stopped, work is queued and status says offline; after
# it is back, the hosts converge; a concurrent edit leaves both versions; `keystone fleet status`
# verifies both hosts' signed heartbeats as ok. MinIO as in nixpkgs nixos/tests/minio.nix
# (services.minio: listenAddress, rootCredentialsFile, browser in
# nixos/modules/services/web-servers/minio.nix).
{ ... }:
let
  accessKey = "keystone-vm";
  secretKey = "keystone-vm-secret";
  store = "s3://fleet/repo";
  endpoint = "http://s3:9000";
  s3Env = "AWS_ACCESS_KEY_ID=${accessKey} AWS_SECRET_ACCESS_KEY=${secretKey}";
  host =
    { pkgs, ... }:
    {
      keystone.syncAgent = {
        enable = true;
        inherit store endpoint;
        paths = [
          {
            path = "/srv/shared";
            mode = "two-way";
          }
        ];
        intervalSeconds = 5;
        watch = true;
      };
      systemd.tmpfiles.rules = [ "d /srv/shared 0755 root root -" ];
      # Until the keys are in place (below), the agent stays stopped.
      systemd.services.keystone-sync-agent.wantedBy = pkgs.lib.mkForce [ ];
      environment.systemPackages = [
        pkgs.age
        pkgs.openssl
        pkgs.jq
      ];
    };
in
{
  name = "vm-sync-two-nodes";

  nodes = {
    s3 =
      { pkgs, ... }:
      {
        services.minio = {
          enable = true;
          browser = false;
          rootCredentialsFile = pkgs.writeText "minio-credentials" ''
            MINIO_ROOT_USER=${accessKey}
            MINIO_ROOT_PASSWORD=${secretKey}
          '';
        };
        networking.firewall.allowedTCPPorts = [ 9000 ];
      };
    alpha = host;
    beta = host;
  };

  testScript = ''
    start_all()
    s3.wait_for_unit("minio.service")
    s3.wait_for_open_port(9000)

    # What `keystone deploy` installs on each host: its age key, its heartbeat key, the S3
    # credentials. The admin (here on alpha) creates the repository and adds both hosts' keys.
    pins = {}
    for node, name in [(alpha, "alpha"), (beta, "beta")]:
        node.succeed("install -d -m 0700 /var/lib/keystone /var/lib/keystone/secrets")
        node.succeed("age-keygen -o /var/lib/keystone/age.key && chmod 0400 /var/lib/keystone/age.key")
        node.succeed("openssl genpkey -algorithm ed25519 -out /var/lib/keystone/agent-signing-key && chmod 0400 /var/lib/keystone/agent-signing-key")
        node.succeed("printf 'AWS_ACCESS_KEY_ID=${accessKey}\\nAWS_SECRET_ACCESS_KEY=${secretKey}\\n' > /var/lib/keystone/secrets/s3-credentials")
        pins[name] = "ed25519:" + node.succeed("openssl pkey -in /var/lib/keystone/agent-signing-key -pubout -outform DER | tail -c 32 | base64").strip()
    alpha.succeed("cp /var/lib/keystone/secrets/s3-credentials /root/s3")
    alpha.succeed("keystone agent init ${store} --endpoint ${endpoint} --s3-credentials /root/s3 --label admin --agent-dir /root/admin --write-recovery-key /root/recovery.key")
    for node, name in [(alpha, "alpha"), (beta, "beta")]:
        recipient = node.succeed("age-keygen -y /var/lib/keystone/age.key").strip()
        alpha.succeed(f"keystone agent keys add {recipient} --label {name} --agent-dir /root/admin")
    for node in [alpha, beta]:
        node.succeed("systemctl start keystone-sync-agent.service")
        node.wait_for_unit("keystone-sync-agent.service")

    # A file made on alpha reaches beta.
    alpha.succeed("echo 'from alpha' > /srv/shared/hello.txt && touch -d '1 minute ago' /srv/shared/hello.txt")
    beta.wait_until_succeeds("grep -qx 'from alpha' /srv/shared/hello.txt", timeout=120)

    # The server stops: alpha's change is queued and its status says offline.
    s3.succeed("systemctl stop minio.service")
    alpha.succeed("echo 'while the store was away' > /srv/shared/offline.txt && touch -d '1 minute ago' /srv/shared/offline.txt")
    alpha.wait_until_succeeds(
        "${s3Env} STATE_DIRECTORY=/var/lib/keystone-sync-agent keystone agent status --json"
        " | jq -e '.state == \"offline\" and .pending.objects > 0'",
        timeout=120,
    )
    # It comes back: the queue drains and beta gets the file.
    s3.succeed("systemctl start minio.service")
    s3.wait_for_open_port(9000)
    beta.wait_until_succeeds("grep -qx 'while the store was away' /srv/shared/offline.txt", timeout=180)

    # A concurrent edit: beta's agent is stopped while both hosts change the same file.
    beta.succeed("systemctl stop keystone-sync-agent.service")
    alpha.succeed("echo 'alpha wrote this' > /srv/shared/hello.txt && touch -d '30 seconds ago' /srv/shared/hello.txt")
    alpha.wait_until_succeeds("journalctl -u keystone-sync-agent --no-pager | grep -q 'published head'", timeout=60)
    alpha.sleep(10)
    beta.succeed("echo 'beta wrote this' > /srv/shared/hello.txt && touch -d '20 seconds ago' /srv/shared/hello.txt")
    beta.succeed("systemctl start keystone-sync-agent.service")
    for node in [alpha, beta]:
        node.wait_until_succeeds("grep -lx 'beta wrote this' /srv/shared/hello.conflict-beta-*.txt", timeout=180)
        node.succeed("grep -qx 'alpha wrote this' /srv/shared/hello.txt")

    # The admin's view: both hosts' heartbeats verify against the keys pinned in git.
    alpha.succeed("mkdir -p /root/fleet/hosts")
    for name, host_id in [("alpha", "a1a1a1a1"), ("beta", "b2b2b2b2")]:
        alpha.succeed(f"""cat > /root/fleet/hosts/{name}.yaml <<'EOF'
    name: {name}
    system: x86_64-linux
    role: server
    hostId: "{host_id}"
    ssh:
      address: {name}
    admins:
      - name: bob
        sshKeys:
          - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBhn035meObEqjC+KGfjD0UyEcpq1SSJc1sQqO3uPugF bob@laptop
    storage:
      disks:
        - /dev/disk/by-id/virtio-{name}
    sync:
      enable: true
      store: ${store}
      endpoint: ${endpoint}
      agentKey: {pins[name]}
      paths:
        - path: /srv/shared
          mode: two-way
    EOF""")
    alpha.wait_until_succeeds(
        "keystone fleet status --fleet /root/fleet --s3-credentials /root/s3 --json"
        " | jq -e 'map(.state) == [\"ok\", \"ok\"]'",
        timeout=120,
    )
  '';
}
