#!/usr/bin/env bash
# Evaluates Keystone's NixOS modules for the example hosts with nixpkgs' `lib.evalModules` and
# Lanzaboote's own module (no nixpkgs packages, no NixOS, no network), then checks what the
# credstore boot, Secure Boot and remote unlock depend on.
#
#   scripts/check-modules-eval.sh --nixpkgs-lib <nixpkgs lib dir> --lanzaboote <lanzaboote dir>
#                                 [--json <file>]
#
# --nixpkgs-lib  nixpkgs' lib/ directory (from nixpkgs or nix-community/nixpkgs.lib)
# --lanzaboote   a checkout of nix-community/lanzaboote (holds nix/modules/lanzaboote.nix)
# --json         also write the whole evaluation there
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
nixpkgs_lib=
lanzaboote=
json_out=
while (($#)); do
  case $1 in
    --nixpkgs-lib) nixpkgs_lib=${2:?--nixpkgs-lib needs a directory}; shift 2 ;;
    --lanzaboote) lanzaboote=${2:?--lanzaboote needs a directory}; shift 2 ;;
    --json) json_out=${2:?--json needs a file}; shift 2 ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "check-modules-eval: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -z $nixpkgs_lib || -z $lanzaboote ]]; then
  echo "check-modules-eval: give --nixpkgs-lib and --lanzaboote" >&2
  exit 2
fi
[[ -f $nixpkgs_lib/default.nix ]] || nixpkgs_lib=$nixpkgs_lib/lib

result=$(nix-instantiate --eval --strict --json --readonly-mode "$here/check-modules-eval.nix" \
  --arg nixpkgsLib "$(cd "$nixpkgs_lib" && pwd)" \
  --arg lanzaboote "$(cd "$lanzaboote" && pwd)" \
  --arg repo "$repo")
if [[ -n $json_out ]]; then printf '%s\n' "$result" >"$json_out"; fi

failures=0
expect() {
  local what=$1 filter=$2
  if jq -e "$filter" >/dev/null <<<"$result"; then
    echo "ok: $what"
  else
    echo "FAILED: $what ($filter)"
    failures=$((failures + 1))
  fi
}

expect "the example hosts pass every assertion" \
  '[.web1, .storage1, .desk1] | all(.failedAssertions == [])'
expect "the stock ZFS import is replaced by keystone-import-pool" \
  '.web1.initrdServices["zfs-import-rpool"] == "disabled" and (.web1.initrdServices["keystone-import-pool"].before | index("cryptsetup-pre.target"))'
expect "the key is loaded before sysroot.mount, from the credstore" \
  '.web1.initrdServices["keystone-load-key"] | (.wantedBy == ["sysroot.mount"]) and (.requiredBy == []) and .unitConfig.RequiresMountsFor == "/etc/credstore" and .serviceConfig.LoadCredential == "zfs-sysroot.mount:/etc/credstore/zfs-sysroot.mount"'
expect "the import refuses datasets outside rpool/crypt" \
  '.web1.initrdServices["keystone-import-pool"].script | test("for dataset in '"'"'rpool/crypt/system'"'"' '"'"'rpool/crypt/system/nix'"'"' '"'"'rpool/crypt/system/var'"'"'")'
expect "the credstore is closed before switch-root" \
  '.web1.switchRoot.conflicts == ["etc-credstore.mount", "systemd-cryptsetup@credstore.service"]'
expect "TPM hosts try the TPM first, the others do not" \
  '(.web1.credstore.crypttabExtraOpts | index("tpm2-device=auto")) and (.storage1.credstore | has("crypttabExtraOpts") | not)'
expect "mirror members are waited for by partition" \
  '.storage1.initrdServices["keystone-import-pool"].wants | map(select(endswith("part2.device"))) | length == 2'
expect "Lanzaboote replaces systemd-boot, signs both ESPs of a mirror" \
  '.storage1.systemdBoot == false and .storage1.lanzaboote.extraEfiSysMountPoints == ["/boot1"] and .storage1.lanzaboote.pkiBundle == "/var/lib/sbctl"'
expect "first-boot keys turn on Lanzaboote's generation and enrollment, with Microsoft keys" \
  '.firstBootKeys | .autoGenerateKeys and .autoEnrollKeys.enable and .autoEnrollKeys.includeMicrosoftKeys'
expect "first-boot keys without Microsoft keys are refused with the fix" \
  '.firstBootKeysWithoutMicrosoft | any(test("keystone.secureBoot.microsoftKeys = true;"))'
expect "remote unlock serves the admins' keys with its own host key" \
  '.storage1.initrdSsh | .port == 2222 and (.authorizedKeys | length) == 2 and .hostKeys == ["/etc/secrets/initrd/ssh_host_ed25519_key"]'
expect "remote unlock without any admin key is refused with the fix" \
  '.remoteUnlockWithoutAdmins | any(test("keystone.remoteUnlock.authorizedKeys"))'
expect "a PCR outside 0-23 is a type error" '.badPcrRejected'
expect "admins are wheel users with their keys and no password login" \
  '.web1.users.alice | .isNormalUser and .extraGroups == ["wheel"] and (.keys | length) == 1'
expect "root takes every admin's key, for Keystone's own logins" \
  '(.storage1.users.root.keys | length) == 2 and (.storage1.users.root.isNormalUser | not)'
expect "SSH takes keys only; root only with an admin's key" \
  '.web1.sshd | .PasswordAuthentication == false and .KbdInteractiveAuthentication == false and .PermitRootLogin == "prohibit-password"'
expect "servers collect garbage weekly" '.web1.nixGc.automatic and .web1.nixGc.dates == "weekly"'
expect "a host file without any admin key is refused with the fix" \
  '.adminsWithoutKeys | any(test("keystone.users.admins.alice.sshKeys"))'
expect "workstations get Hyprland, servers do not" '.desk1.hyprland and (.web1.hyprland | not)'
expect "the mesh client joins the login server with the host's tags" \
  '.meshClient.extraUpFlags == ["--login-server=https://headscale.example.org", "--advertise-tags=tag:workstation"]'
expect "the auth key reaches tailscale only as a systemd credential" \
  '.meshClient.authKeyReference == "file:/run/credentials/tailscaled-autoconnect.service/mesh-auth-key" and .meshClient.autoconnect.serviceConfig.LoadCredential == ["mesh-auth-key:/var/lib/keystone/secrets/mesh-auth-key"]'
expect "a mesh without login server is refused with the fix" \
  '.meshWithoutLoginServer | any(test("keystone.mesh.loginServer = "))'
expect "the Headscale server serves the login server URL" \
  '.headscaleServer | .enable and .settings.server_url == "https://headscale.example.org" and .port == 8080'
expect "a service loads its secrets as credentials, sealed ones from the TPM copy" \
  '.secretsDelivery.backup.serviceConfig | .LoadCredential == ["s3-backup:/var/lib/keystone/secrets/fleet/s3-backup"] and .LoadCredentialEncrypted == ["signing-key:/var/lib/keystone/secrets/signing-key.cred"]'
expect "sealed secrets are sealed before their service starts" \
  '.secretsDelivery.backup.after == ["keystone-seal-secrets.service"] and (.secretsDelivery.seal | test("systemd-creds encrypt --with-key=tpm2"))'
expect "the secrets directory is root-only" '.secretsDelivery.tmpfiles == ["d /var/lib/keystone/secrets 0700 root root -"]'
expect "sealing on a host without TPM is refused with the fix" '.sealWithoutTpm | any(test("keystone.tpm.enable = true"))'
expect "the PCR list reaches enrollment as 1+7" '.web1.tpmPcrsArg == "1+7"'
expect "the sync agent runs its paths with heartbeats and the host's PCRs" \
  '.syncAgent.plain.units["keystone-sync-agent"].serviceConfig.ExecStart | endswith("keystone \"agent\" \"run\" \"/var/lib/important\" \"--interval\" \"3600s\" \"--heartbeat\" \"--pcr\" \"1\" \"--pcr\" \"7\"")'
expect "it restarts on failure, at most 5 times in 5 minutes" \
  '.syncAgent.plain.units["keystone-sync-agent"] | .serviceConfig.Restart == "on-failure" and .startLimitBurst == 5 and .startLimitIntervalSec == 300'
expect "it runs hardened, as a dynamic user, writing only its folder store" \
  '.syncAgent.plain.units["keystone-sync-agent"].serviceConfig | .ProtectSystem == "strict" and .NoNewPrivileges and .DynamicUser and .ReadWritePaths == ["/srv/backups/keystone"] and .PrivateTmp'
expect "its keys are systemd credentials, the S3 ones only for an S3 store" \
  '(.syncAgent.plain.units["keystone-sync-agent"].serviceConfig.LoadCredential == ["device-key:/var/lib/keystone/age.key", "agent-signing-key:/var/lib/keystone/agent-signing-key"]) and (.syncAgent.full.units["keystone-sync-agent"].serviceConfig.LoadCredential | index("s3-credentials:/var/lib/keystone/secrets/s3-credentials"))'
expect "a two-way path is writable, with the capabilities to own and date files; a % is not a specifier" \
  '.syncAgent.full.units["keystone-sync-agent"].serviceConfig | .ReadWritePaths == ["/srv/shared 100%"] and (.CapabilityBoundingSet | index("CAP_CHOWN")) and (.ExecStart | test("\"/var/lib/important\" \"--two-way\" \"/srv/shared 100%%\" .*\"--watch\" \"--metrics\" \"127.0.0.1:9464\""))'
expect "a health check restarts an agent that stopped reporting" \
  '.syncAgent.plain.units["keystone-sync-agent-health"] | .unitConfig.OnFailure == "keystone-sync-agent-restart.service" and (.serviceConfig.ExecStart | endswith("agent status --check --max-age 3m"))'
expect "retention prunes daily with the rules given" \
  '(.syncAgent.full.units["keystone-sync-agent-prune"].serviceConfig.ExecStart | endswith("\"prune\" \"--keep-daily\" \"7\" \"--keep-monthly\" \"12\"")) and .syncAgent.full.timers["keystone-sync-agent-prune"].timerConfig.OnCalendar == "daily" and (.syncAgent.plain.timers | has("keystone-sync-agent-prune") | not)'
expect "an agent without paths is refused with the fix" \
  '.syncAgent.withoutPaths | any(test("keystone.syncAgent.paths = "))'

if ((failures)); then
  echo "check-modules-eval: $failures check(s) failed" >&2
  exit 1
fi
echo "check-modules-eval: all checks passed"
