# shellcheck shell=bash
# keystone-tpm-status: print what this host's TPM unlock rests on, as one JSON object, for
# `keystone enroll` and `keystone fleet status`. Read-only; needs root for the LUKS header.
#
#   tpm         present, version, device
#   secureBoot  enabled and setupMode, from the UEFI variables (null on a BIOS boot)
#   credstore   device, whether it is open, LUKS key slots and tokens (systemd-tpm2 with its PCRs,
#               systemd-recovery), and whether a TPM2 token is enrolled
#   pcrs        the expected policy (KEYSTONE_TPM_PCRS) and the current sha256 PCR values
#
# Paths come from the environment so that the script can be tried on any machine:
# KEYSTONE_SYSFS (default /sys), KEYSTONE_CREDSTORE (the credstore volume),
# KEYSTONE_TPM_PCRS (e.g. 1+7).
set -euo pipefail

sysfs="${KEYSTONE_SYSFS:-/sys}"
credstore="${KEYSTONE_CREDSTORE:?KEYSTONE_CREDSTORE names the credstore volume}"
expected_pcrs="${KEYSTONE_TPM_PCRS:-}"
# The EFI global variable GUID (UEFI spec, 3.3 Globally Defined Variables).
efi_global="8be4df61-93ca-11d2-aa0d-00e098032b8c"

# A UEFI variable file holds 4 bytes of attributes, then the value; SecureBoot and SetupMode
# are one byte each.
efi_flag() {
  local file="$sysfs/firmware/efi/efivars/$1-$efi_global"
  if [ -r "$file" ]; then
    if [ "$(od -An -t u1 -j 4 -N 1 "$file" | tr -d ' ')" = 1 ]; then echo true; else echo false; fi
  else
    echo null
  fi
}

tpm_json() {
  local dir="$sysfs/class/tpm/tpm0"
  if [ ! -d "$dir" ]; then
    jq -n '{present: false, version: null, device: null}'
    return
  fi
  local major=null
  if [ -r "$dir/tpm_version_major" ]; then major="$(cat "$dir/tpm_version_major")"; fi
  jq -n --argjson major "$major" \
    '{present: true, version: (if $major == null then null else "\($major).0" end), device: "/dev/tpmrm0"}'
}

# Kernel 5.12+ exposes each PCR bank as files named by index.
pcrs_json() {
  local bank="$sysfs/class/tpm/tpm0/pcr-sha256"
  local values='{}'
  if [ -d "$bank" ]; then
    local file
    for file in "$bank"/*; do
      [ -r "$file" ] || continue
      values="$(jq -c --arg index "$(basename "$file")" --arg value "$(tr 'A-F' 'a-f' <"$file")" \
        '. + {($index): $value}' <<<"$values")"
    done
  fi
  jq -n --arg expected "$expected_pcrs" --argjson sha256 "$values" \
    '{expected: ($expected | if . == "" then [] else split("+") | map(tonumber) end), sha256: $sha256}'
}

credstore_json() {
  local open=false
  if [ -e /dev/mapper/credstore ]; then open=true; fi
  if [ ! -e "$credstore" ]; then
    jq -n --arg device "$credstore" --argjson open "$open" \
      '{device: $device, present: false, open: $open, keyslots: [], tokens: [], tpm2Enrolled: false, recoveryKey: false}'
    return
  fi
  # cryptsetup(8) luksDump --dump-json-metadata prints the LUKS2 header's JSON area.
  cryptsetup luksDump --dump-json-metadata "$credstore" |
    jq --arg device "$credstore" --argjson open "$open" '
      (.tokens // {} | to_entries | map({
        id: (.key | tonumber),
        type: .value.type,
        keyslots: (.value.keyslots | map(tonumber)),
        pcrs: (.value["tpm2-pcrs"] // null)
      })) as $tokens
      | {
          device: $device,
          present: true,
          open: $open,
          keyslots: (.keyslots // {} | to_entries | map({slot: (.key | tonumber), type: .value.type})),
          tokens: $tokens,
          tpm2Enrolled: ($tokens | any(.type == "systemd-tpm2")),
          recoveryKey: ($tokens | any(.type == "systemd-recovery"))
        }'
}

jq -n \
  --argjson tpm "$(tpm_json)" \
  --argjson secureBoot "{\"enabled\": $(efi_flag SecureBoot), \"setupMode\": $(efi_flag SetupMode)}" \
  --argjson credstore "$(credstore_json)" \
  --argjson pcrs "$(pcrs_json)" \
  '{tpm: $tpm, secureBoot: $secureBoot, credstore: $credstore, pcrs: $pcrs}'
