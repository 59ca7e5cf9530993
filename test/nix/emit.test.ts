import t from 'tap'
import { emitAttrName, emitNix, emitString, nixRaw } from '../../cli/nix/emit.js'

t.test('strings escape quote, backslash, interpolation and control characters', async (t) => {
  t.equal(emitString('a"b'), '"a\\"b"')
  t.equal(emitString('a\\b'), '"a\\\\b"')
  t.equal(emitString('${x}'), '"\\${x}"')
  t.equal(emitString('$x $'), '"$x $"')
  t.equal(emitString('a\nb\tc\rd'), '"a\\nb\\tc\\rd"')
  t.throws(() => emitString('a\0b'), /NUL/)
})

t.test('attribute names are quoted when they are not identifiers or are keywords', async (t) => {
  t.equal(emitAttrName('disko'), 'disko')
  t.equal(emitAttrName("x-y_z'"), "x-y_z'")
  t.equal(emitAttrName('crypt/system'), '"crypt/system"')
  t.equal(emitAttrName('com.sun:auto-snapshot'), '"com.sun:auto-snapshot"')
  t.equal(emitAttrName('if'), '"if"')
  t.equal(emitAttrName('1abc'), '"1abc"')
  t.equal(emitAttrName(''), '""')
})

t.test('nested single-key attrsets collapse into a dotted path', async (t) => {
  t.equal(emitNix({ a: { b: { c: 1 } } }), '{\n  a.b.c = 1;\n}')
  t.equal(emitNix({ a: { b: 1, c: 2 } }), '{\n  a = {\n    b = 1;\n    c = 2;\n  };\n}')
})

t.test('raw Nix only through nixRaw, numbers only as safe integers', async (t) => {
  t.equal(emitNix([-3, null, true]), '[ (-3) null true ]')
  t.equal(emitNix([nixRaw('./disko.nix')]), '[\n  ./disko.nix\n]')
  t.throws(() => emitNix(1.5), /safe integers/)
  t.throws(() => emitNix(2 ** 60), /safe integers/)
})

t.test('undefined attributes are left out', async (t) => {
  t.equal(emitNix({ a: 1, b: undefined }), '{\n  a = 1;\n}')
})

t.test('indented strings escape quotes next to interpolation', async (t) => {
  // Found by the property test: `'''${` lexes as an escaped '' followed by a live interpolation.
  t.equal(emitNix("a\n'''${\n"), "''\n  a\n  '''''\\'''${\n''")
  t.equal(emitNix("a\n'${x}\n"), "''\n  a\n  ''\\'''${x}\n''")
  t.equal(emitNix("a\n''\n"), "''\n  a\n  '''\n''")
})
