// localrag web page: no framework, no CDN, no network beyond this server.
"use strict";
const $ = (id) => document.getElementById(id);
let token = localStorage.getItem("localrag-token") || "";
let photo = null;

async function api(path, options = {}) {
  options.headers = Object.assign({}, options.headers || {}, token ? { Authorization: `Bearer ${token}` } : {});
  const res = await fetch(path, options);
  if (res.status === 401) {
    token = prompt("This server needs its access token:") || "";
    localStorage.setItem("localrag-token", token);
    return api(path, options);
  }
  return res;
}

async function imageUrl(path) {
  const res = await api(path);
  return res.ok ? URL.createObjectURL(await res.blob()) : "";
}

function tab(which) {
  for (const name of ["ask", "library"]) {
    $(name).hidden = name !== which;
    $(`tab-${name}`).setAttribute("aria-selected", String(name === which));
  }
  if (which === "library") loadLibrary();
}
$("tab-ask").onclick = () => tab("ask");
$("tab-library").onclick = () => tab("library");

function setPhoto(file) {
  photo = file;
  const img = $("photo-preview");
  img.hidden = !file;
  if (file) { img.src = URL.createObjectURL(file); img.alt = `photo: ${file.name}`; }
}
$("photo").onchange = (e) => setPhoto(e.target.files[0] || null);
const drop = document.querySelector(".photo");
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); setPhoto(e.dataTransfer.files[0] || null); };
document.addEventListener("paste", (e) => {
  const item = [...e.clipboardData.items].find((i) => i.type.startsWith("image/"));
  if (item) setPhoto(item.getAsFile());
});
$("question").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("ask-form").requestSubmit();
});

$("ask-form").onsubmit = async (e) => {
  e.preventDefault();
  const form = new FormData();
  form.append("query", $("question").value);
  form.append("stream", "true");
  if (photo) form.append("image", photo, photo.name || "photo.png");
  $("answer").textContent = ""; $("citations").innerHTML = ""; $("viewer").hidden = true;
  $("draft").textContent = ""; $("draft").hidden = false; $("status").textContent = "Searching the manuals…";
  const res = await api("/v1/ask", { method: "POST", body: form });
  if (!res.ok) { $("status").textContent = (await res.json()).error.message; return; }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      const event = (block.match(/^event: (.*)$/m) || [])[1];
      const data = JSON.parse((block.match(/^data: (.*)$/m) || [])[1] || "null");
      if (event === "draft") $("draft").textContent += data.token;
      else if (event === "answer") showAnswer(data);
      else if (event === "error") $("status").textContent = data.message;
    }
  }
};

function showAnswer(doc) {
  $("draft").hidden = true;
  $("status").textContent = doc.refused ? "Not answered from the manuals." : `Answer (${doc.mode})`;
  $("answer").textContent = doc.answer;
  for (const c of doc.citations) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = "#"; a.className = "citation";
    a.textContent = `[${c.n}] ${c.source.split("/").pop()}, page ${c.page}` + (c.figure != null ? `, ${c.caption || "figure " + c.figure}` : "");
    a.onclick = (e) => { e.preventDefault(); showCitation(c); };
    li.appendChild(a);
    $("citations").appendChild(li);
  }
  if (doc.citations.length) showCitation(doc.citations[0]);
}

async function showCitation(c) {
  $("viewer").hidden = false;
  const fig = $("figure-view");
  fig.hidden = !c.figure_url;
  $("region").hidden = true;
  if (c.figure_url) {
    const img = $("figure-img");
    img.onload = () => {
      if (!c.region) return;
      const [x0, y0, x1, y1] = c.region;
      const r = $("region");
      Object.assign(r.style, { left: `${x0 * img.clientWidth}px`, top: `${y0 * img.clientHeight}px`,
        width: `${(x1 - x0) * img.clientWidth}px`, height: `${(y1 - y0) * img.clientHeight}px` });
      r.hidden = false;
    };
    img.src = await imageUrl(c.figure_url);
    $("figure-caption").textContent = c.caption || `figure ${c.figure}`;
  }
  $("page-img").src = await imageUrl(c.page_url);
  $("page-caption").textContent = `${c.source}, page ${c.page}`;
}

async function loadLibrary() {
  const doc = await (await api("/v1/documents")).json();
  const body = document.querySelector("#documents tbody");
  body.innerHTML = "";
  for (const s of doc.sources) {
    const tr = document.createElement("tr");
    for (const v of [s.source, s.pages, s.records.text, s.records.figures]) {
      const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
    }
    const td = document.createElement("td");
    const b = document.createElement("button");
    b.textContent = "Remove"; b.setAttribute("aria-label", `remove ${s.source}`);
    b.onclick = async () => { await api(`/v1/documents/${s.id}`, { method: "DELETE" }); loadLibrary(); };
    td.appendChild(b); tr.appendChild(td); body.appendChild(tr);
  }
  const models = Object.entries(doc.collections).map(([n, c]) => `${n}: ${c.model || "-"} (${c.count})`).join("; ");
  const info = await (await api("/v1/info")).json();
  const gpu = info.gpus.length ? info.gpus.map((g) => g.name).join(", ") : "no GPU (CPU only)";
  $("facts").textContent = `Models: ${models}. Backend: llama-cpp-python ${info.backend.version}${info.backend.gpu_offload ? " (GPU offload)" : ""}; ${gpu}.`;
}

$("index-form").onsubmit = async (e) => {
  e.preventDefault();
  let res;
  const files = $("files").files;
  if (files.length) {
    const form = new FormData();
    for (const f of files) form.append("files", f, f.name);
    res = await api("/v1/index", { method: "POST", body: form });
  } else {
    res = await api("/v1/index", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ paths: [$("folder").value] }) });
  }
  let job = await res.json();
  if (!res.ok) { $("job-status").textContent = job.error.message; return; }
  const bar = $("job-progress");
  bar.hidden = false;
  while (job.state === "queued" || job.state === "running") {
    bar.max = Math.max(1, job.progress.files_total); bar.value = job.progress.files_done;
    $("job-status").textContent = `${job.state}: ${job.progress.files_done}/${job.progress.files_total} files, ${job.progress.pages} pages, ${job.progress.figures} figures`;
    await new Promise((r) => setTimeout(r, 500));
    job = await (await api(`/v1/jobs/${job.id}`)).json();
  }
  bar.value = bar.max;
  $("job-status").textContent = job.state === "done" ? `done: ${job.summary.indexed.length} indexed, ${job.summary.failed.length} failed` : `failed: ${job.error}`;
  loadLibrary();
};
