import * as fs from 'node:fs'; import * as os from 'node:os'; import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as wasmB from '@tensorflow/tfjs-backend-wasm';
const THREADS = Number(process.env.T ?? 2);
if (THREADS > 1) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfwasm-'));
  const NativeBlob = globalThis.Blob; let n = 0;
  globalThis.Blob = class extends NativeBlob { constructor(parts, opts){ super(parts, opts); this.__text = parts.join(''); if (this.__text.startsWith('var WasmBackendModuleThreadedSimd')) fs.writeFileSync(path.join(dir,'main.cjs'), "var require$$0=require('fs'),require$$1=require('path'),require$$3=require('perf_hooks'),require$$4=require('os'),commonjsGlobal=globalThis;" + this.__text); } };
  const orig = URL.createObjectURL;
  const mainFile = path.join(dir, 'main.cjs');
  URL.createObjectURL = (b) => { if (b.__text === undefined) return orig(b);
    if (b.__text.startsWith('var WasmBackendModuleThreadedSimd')) { fs.writeFileSync(mainFile, b.__text); return mainFile; }
    const f = path.join(dir, `worker${n++}.cjs`);
    fs.writeFileSync(f, `URL.createObjectURL=()=>${JSON.stringify(mainFile)};URL.revokeObjectURL=()=>{};` + b.__text); return f; };
  URL.revokeObjectURL = () => {};
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasmB.setThreadsCount(THREADS);
}
import osMod from 'node:os'; const realCpus = osMod.cpus; const nReal = realCpus().length;
if (THREADS>1) osMod.cpus = () => { const c = realCpus(); return [...c, ...c]; };
await tf.setBackend('wasm'); await tf.ready(); osMod.cpus = realCpus;
console.log('threads', wasmB.getThreadsCount(), Object.keys(tf.backend().wasm).filter(k=>/thread|PThread|pool/i.test(k)), tf.backend().wasm.PThread && {unused: tf.backend().wasm.PThread.unusedWorkers.length, running: tf.backend().wasm.PThread.runningWorkers.length});
function time(name, fn, n=30){ for(let i=0;i<3;i++){const r=fn(); r.dataSync(); r.dispose();}
  const t0=performance.now(); for(let i=0;i<n;i++){const r=fn(); r.dataSync(); r.dispose();} const ms=(performance.now()-t0)/n; console.log(name.padEnd(40), ms.toFixed(3),'ms'); return ms;}
const x=tf.randomNormal([768,128]), W=tf.randomNormal([128,384]);
time('2d x@W 768x128x384', ()=>tf.matMul(x,W));
const xT=tf.randomNormal([128,768]), dy=tf.randomNormal([768,384]);
time('dW 128x768x384', ()=>tf.matMul(xT,dy));
const h=tf.randomNormal([768,512]), W2=tf.randomNormal([512,128]);
time('2d 768x512x128', ()=>tf.matMul(h,W2));
const big=tf.randomNormal([1024,1024]);
time('1024^3', ()=>tf.matMul(big,big),5);
const q=tf.randomNormal([48,64,32]), kT=tf.randomNormal([48,32,64]);
time('bmm q@kT', ()=>tf.matMul(q,kT));
time('add [768,512]', ()=>tf.add(h,h));
const qs=tf.unstack(q), kts=tf.unstack(kT); time("48x2d+stack", ()=>tf.stack(qs.map((a,i)=>tf.matMul(a,kts[i]))));
const q2=tf.reshape(q,[12,4,64,32]); time("concat-heads trick", ()=>tf.tidy(()=>{const s=[]; for(let b=0;b<12;b++){ s.push(tf.matMul(tf.reshape(tf.slice(q,[b*4,0,0],[4,64,32]),[256,32]), tf.reshape(tf.transpose(tf.slice(kT,[b*4,0,0],[4,32,64]),[1,0,2]),[32,256])));} return tf.stack(s);}));
