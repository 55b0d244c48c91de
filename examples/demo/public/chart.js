const PAD = { top: 12, right: 64, bottom: 12, left: 8 };
const LINE = '#2563eb';
const REPLAYED = '#d97706';
const GRID = '#e5e7eb';
const LABEL = '#6b7280';

/**
 * A line chart of the last `capacity` values on a <canvas>. Ticks arrive faster than they need drawing (and
 * a replay delivers hundreds at once), so `push` only records and marks the chart dirty; drawing happens at
 * most once per animation frame, and not at all while the tab is hidden.
 */
export class PriceChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {number} capacity
   */
  constructor(canvas, capacity = 200) {
    this.canvas = canvas;
    this.ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
    this.capacity = capacity;
    /** @type {number[]} */
    this.values = [];
    /** @type {boolean[]} */
    this.replayed = [];
    this.frame = 0;
    this.draw = this.draw.bind(this);
    // Sizing the backing store from the laid-out size keeps lines sharp on HiDPI screens and after resizes.
    new ResizeObserver(() => this.resize()).observe(canvas);
  }

  /**
   * @param {number} value
   * @param {boolean} replayed  drawn as a marker, so a reconnect's catch-up is visible in the chart
   */
  push(value, replayed) {
    this.values.push(value);
    this.replayed.push(replayed);
    if (this.values.length > this.capacity) {
      const excess = this.values.length - this.capacity;
      this.values.splice(0, excess);
      this.replayed.splice(0, excess);
    }
    this.schedule();
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const { width, height } = this.canvas.getBoundingClientRect();
    this.canvas.width = Math.max(1, Math.round(width * dpr));
    this.canvas.height = Math.max(1, Math.round(height * dpr));
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.schedule();
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(this.draw);
  }

  draw() {
    this.frame = 0;
    const { ctx, values } = this;
    const dpr = window.devicePixelRatio || 1;
    const width = this.canvas.width / dpr;
    const height = this.canvas.height / dpr;
    ctx.clearRect(0, 0, width, height);

    const plotW = width - PAD.left - PAD.right;
    const plotH = height - PAD.top - PAD.bottom;
    if (values.length === 0 || plotW <= 0 || plotH <= 0) return;

    let min = Math.min(...values);
    let max = Math.max(...values);
    // A flat series would divide by zero; give it a band so it draws as a centred line.
    if (max - min < 1e-9) {
      min -= 1;
      max += 1;
    }
    const x = (i) => PAD.left + (plotW * i) / (this.capacity - 1);
    const y = (v) => PAD.top + plotH * (1 - (v - min) / (max - min));

    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    ctx.lineWidth = 1;
    for (let k = 0; k <= 4; k++) {
      const v = min + ((max - min) * k) / 4;
      const gy = Math.round(y(v)) + 0.5;
      ctx.strokeStyle = GRID;
      ctx.beginPath();
      ctx.moveTo(PAD.left, gy);
      ctx.lineTo(PAD.left + plotW, gy);
      ctx.stroke();
      ctx.fillStyle = LABEL;
      ctx.fillText(v.toFixed(2), PAD.left + plotW + 8, gy);
    }

    // Right-align the series so the newest tick is always at the right edge, even before the buffer fills.
    const offset = this.capacity - values.length;
    ctx.strokeStyle = LINE;
    ctx.lineWidth = 1.5;
    ctx.lineJoin = 'round';
    ctx.beginPath();
    for (let i = 0; i < values.length; i++) {
      if (i === 0) ctx.moveTo(x(offset + i), y(values[i]));
      else ctx.lineTo(x(offset + i), y(values[i]));
    }
    ctx.stroke();

    ctx.fillStyle = REPLAYED;
    for (let i = 0; i < values.length; i++) {
      if (!this.replayed[i]) continue;
      ctx.beginPath();
      ctx.arc(x(offset + i), y(values[i]), 2.5, 0, Math.PI * 2);
      ctx.fill();
    }

    const last = values.length - 1;
    ctx.fillStyle = LINE;
    ctx.beginPath();
    ctx.arc(x(offset + last), y(values[last]), 3, 0, Math.PI * 2);
    ctx.fill();
  }
}
