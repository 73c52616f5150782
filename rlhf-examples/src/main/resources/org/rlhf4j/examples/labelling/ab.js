// The rlhf4j blind A/B page: shows two systems' responses to one prompt (in an order the server
// randomised, without the systems' names) and posts "A", "B", "tie" or a skip to the JSON API.
(() => {
  'use strict';

  const RETRY_MS = 3000;  // after a network error

  const $ = (id) => document.getElementById(id);
  const el = {
    item: $('item'), waiting: $('waiting'), prompt: $('prompt'), a: $('response-a'), b: $('response-b'),
    chooseA: $('choose-a'), chooseB: $('choose-b'), tie: $('choose-tie'), skip: $('skip'), message: $('message'),
    progress: $('progress'), progressBar: $('progress-bar'), judged: $('judged'), skipped: $('skipped'), total: $('total'),
  };

  let item = null;   // the item shown, as /api/ab/next returned it
  let busy = false;  // an answer is being posted

  function say(text, isError) {
    el.message.textContent = text || '';
    el.message.classList.toggle('error', !!isError);
  }

  async function call(path, body) {
    const options = body === undefined
      ? { cache: 'no-store' }
      : { method: 'POST', cache: 'no-store', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
    const response = await fetch(path, options);
    let json = {};
    try {
      json = await response.json();
    } catch (e) {
      json = { error: 'unreadable reply (HTTP ' + response.status + ')' };
    }
    return { status: response.status, json };
  }

  function showProgress(p) {
    if (!p) {
      return;
    }
    el.judged.textContent = String(p.judged);
    el.skipped.textContent = String(p.skipped);
    el.total.textContent = String(p.total);
    const left = p.total - p.judged - p.skipped;
    el.progress.textContent = p.judged + ' of ' + p.total + ' judged' + (p.skipped ? ' (' + p.skipped + ' skipped)' : '') + (left > 0 ? ', ' + left + ' to go' : '');
    el.progressBar.style.width = (p.total ? (100 * (p.judged + p.skipped) / p.total) : 0) + '%';
    document.title = 'rlhf4j · Blind A/B (' + p.judged + '/' + p.total + ')';
  }

  function paint() {
    [el.chooseA, el.chooseB, el.tie, el.skip].forEach((b) => { b.disabled = busy || !item; });
  }

  function showItem(next) {
    item = next;
    el.prompt.textContent = next.prompt;
    el.a.textContent = next.responses[0];
    el.b.textContent = next.responses[1];
    el.item.dataset.itemId = next.itemId;
    el.item.hidden = false;
    el.waiting.hidden = true;
    document.body.dataset.state = 'item';
    paint();
  }

  function showDone() {
    item = null;
    el.item.hidden = true;
    delete el.item.dataset.itemId;
    el.waiting.hidden = false;
    document.body.dataset.state = 'done';
  }

  async function loadNext() {
    try {
      const { status, json } = await call('/api/ab/next');
      if (status !== 200) {
        throw new Error(json.error || 'HTTP ' + status);
      }
      showProgress(json.progress);
      if (json.done) {
        showDone();
      } else {
        showItem(json);
      }
    } catch (e) {
      say('Cannot reach the server (' + e.message + '); retrying…', true);
      setTimeout(loadNext, RETRY_MS);
    }
  }

  async function answer(path, body, done) {
    if (!item || busy) {
      return;
    }
    busy = true;
    paint();
    try {
      const { status, json } = await call(path, body);
      if (status === 200) {
        say(done);
        showProgress(json.progress);
        item = null;
      } else if (status === 404 || status === 409) {
        say('That item was already answered elsewhere; here is the next one.');
        item = null;
      } else {
        say(json.error || 'The server refused the answer (HTTP ' + status + ').', true);
      }
    } catch (e) {
      say('Could not send the answer (' + e.message + '); please try again.', true);
    }
    busy = false;
    if (item) {
      paint();
    } else {
      await loadNext();
    }
  }

  function choose(choice) {
    if (item) {
      answer('/api/ab/choose', { itemId: item.itemId, choice }, 'Saved.');
    }
  }

  el.chooseA.addEventListener('click', () => choose('A'));
  el.chooseB.addEventListener('click', () => choose('B'));
  el.tie.addEventListener('click', () => choose('tie'));
  el.skip.addEventListener('click', () => {
    if (item) {
      answer('/api/ab/skip', { itemId: item.itemId }, 'Skipped.');
    }
  });
  document.addEventListener('keydown', (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey) {
      return;
    }
    const k = e.key.toLowerCase();
    if (k === 'a') {
      choose('A');
    } else if (k === 'b') {
      choose('B');
    } else if (k === 't') {
      choose('tie');
    } else if (k === 's') {
      el.skip.click();
    }
  });

  document.body.dataset.state = 'loading';
  paint();
  loadNext();
})();
