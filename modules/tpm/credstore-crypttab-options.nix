# The credstore's crypttab options when the TPM unlocks it, as data: modules/tpm sets them as
# boot.initrd.luks.devices.credstore.crypttabExtraOpts, and the rehearsal machine writes the same
# options into its initrd's /etc/crypttab. systemd's crypttab(5): tpm2-device=auto tries the TPM
# first (without a TPM2 token the passphrase or recovery key is asked for); tpm2-measure-pcr=yes
# (systemd 253 and later) extends PCR 15 with the volume key once unlocked, so a later process
# cannot unseal the same secret again in this boot.
[
  "tpm2-device=auto"
  "tpm2-measure-pcr=yes"
]
