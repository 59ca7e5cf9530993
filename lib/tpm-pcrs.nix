# PCR indexes as systemd-cryptenroll takes them: "+"-separated, e.g. [ 1 7 ] -> "1+7"
# (systemd man/systemd-cryptenroll.xml, --tpm2-pcrs=). Sorted and de-duplicated so that the same
# policy always prints the same way.
pcrs:
let
  invalid = builtins.filter (pcr: !(builtins.isInt pcr) || pcr < 0 || pcr > 23) pcrs;
  unique = builtins.foldl' (seen: pcr: if builtins.elem pcr seen then seen else seen ++ [ pcr ]) [ ] (
    builtins.sort builtins.lessThan pcrs
  );
in
if pcrs == [ ] then
  throw "keystone: the TPM PCR list is empty; bind to at least one PCR, e.g. keystone.tpm.pcrs = [ 1 7 ];"
else if invalid != [ ] then
  throw "keystone: TPM PCR ${builtins.toJSON (builtins.head invalid)} is not an index 0-23"
else
  builtins.concatStringsSep "+" (map toString unique)
