import ts from 'typescript';
const ROOT = process.cwd() + '/';
const names = process.argv.slice(2);
const p = ts.createProgram([ROOT + 'host/src/index.ts'], { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, skipLibCheck: true });
const c = p.getTypeChecker();
const resolve = (s) => (s.flags & ts.SymbolFlags.Alias ? c.getAliasedSymbol(s) : s);
const all = new Map();
for (const e of c.getExportsOfModule(c.getSymbolAtLocation(p.getSourceFile(ROOT + 'host/src/index.ts')))) { const s = resolve(e); all.set(e.name, s); if (s.flags & ts.SymbolFlags.ValueModule) for (const x of c.getExportsOfModule(s)) all.set(x.name, resolve(x)); }
for (const n of names) { const [cls, mem] = n.replace('hostiommu.', '').split('.'); const s = all.get(cls); let m = s?.members?.get(mem) ?? s?.exports?.get(mem.replace('static ', '')); const d = m?.declarations?.[0]; if (!d) { console.log('??', n); continue; } const sf = d.getSourceFile(); const { line } = sf.getLineAndCharacterOfPosition(d.getStart()); console.log(`${sf.fileName.replace(ROOT, '')}:${line + 1}: ${n} | ${sf.text.split('\n')[line].trim().slice(0, 110)}`); }
