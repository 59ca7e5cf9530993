import t from 'tap'
import { explainFailure } from '../../cli/deploy/explain-failure.js'

// The one-line cause of a failed phase, from output lines nixos-anywhere and nix really print.
t.test('known failures get a cause, others their last error line', async (t) => {
  t.equal(explainFailure(['tar: ./nix/store/x: Cannot write: No space left on device']), 'the target ran out of disk space')
  t.equal(explainFailure(['root@192.0.2.1: Permission denied (publickey).']), 'the target refused the SSH key')
  t.equal(explainFailure(['ssh: connect to host 192.0.2.1 port 22: Connection refused']), 'lost the SSH connection to the target')
  t.equal(explainFailure(["error: attribute 'desk9' missing"]), 'the host’s NixOS configuration did not evaluate')
  t.equal(explainFailure(["error: builder for '/nix/store/abc-x.drv' failed with exit code 1"]), 'a build of the host’s system failed')
  t.equal(explainFailure(['### Formatting ###', 'mkfs.vfat: unable to open /dev/sdz: fatal', '']), 'mkfs.vfat: unable to open /dev/sdz: fatal')
  t.equal(explainFailure([]), 'it exited without output')
})
